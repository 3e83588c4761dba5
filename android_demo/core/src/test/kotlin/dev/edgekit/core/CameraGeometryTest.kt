package dev.edgekit.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class CameraGeometryTest {
    @Test
    fun aHalfTurnOfTheDisplayTurnsTheFrameRotationByHalf() {
        // a back camera mounted at 90 (most phones): portrait 90, landscape 0, upside down 270, other landscape 180
        assertEquals(90, CameraGeometry.frameRotation(90, 0, frontFacing = false))
        assertEquals(0, CameraGeometry.frameRotation(90, 90, frontFacing = false))
        assertEquals(270, CameraGeometry.frameRotation(90, 180, frontFacing = false))
        assertEquals(180, CameraGeometry.frameRotation(90, 270, frontFacing = false))
        // landscape -> reverse landscape (a 180 degree turn, no configuration change): the frames must follow
        assertNotEquals(CameraGeometry.frameRotation(90, 90, false), CameraGeometry.frameRotation(90, 270, false))
        // front cameras (mirrored) add; sensors at 270 and tablets' at 0 as well
        assertEquals(270, CameraGeometry.frameRotation(270, 0, frontFacing = true))
        assertEquals(0, CameraGeometry.frameRotation(270, 90, frontFacing = true))
        assertEquals(270, CameraGeometry.frameRotation(270, 0, frontFacing = false))
        assertEquals(0, CameraGeometry.frameRotation(0, 0, frontFacing = false))
        assertEquals(270, CameraGeometry.frameRotation(0, 90, frontFacing = false))
    }

    /** Applies the transform as android.graphics.Matrix would to the view's stretched content; returns its bounds. */
    private fun contentBounds(t: PreviewTransform): DoubleArray {
        val cx = t.viewWidth / 2
        val cy = t.viewHeight / 2
        val xs = ArrayList<Double>()
        val ys = ArrayList<Double>()
        for ((u, v) in listOf(0.0 to 0.0, 1.0 to 0.0, 0.0 to 1.0, 1.0 to 1.0)) {
            var x = cx + (u * t.viewWidth - cx) * t.stretchX      // setScale(stretchX, stretchY, cx, cy)
            var y = cy + (v * t.viewHeight - cy) * t.stretchY
            val a = Math.toRadians(t.rotate)                      // postRotate(rotate, cx, cy)
            val rx = cx + (x - cx) * Math.cos(a) - (y - cy) * Math.sin(a)
            val ry = cy + (x - cx) * Math.sin(a) + (y - cy) * Math.cos(a)
            x = cx + (rx - cx) * t.fill                           // postScale(fill, fill, cx, cy)
            y = cy + (ry - cy) * t.fill
            xs.add(x); ys.add(y)
        }
        return doubleArrayOf(xs.min(), ys.min(), xs.max(), ys.max())
    }

    @Test
    fun thePreviewFillsTheViewUndistortedForEverySensorAndDisplayRotation() {
        for (sensor in listOf(0, 90, 180, 270)) for (display in listOf(0, 90, 180, 270)) {
            val portrait = display % 180 == 0
            val (vw, vh) = if (portrait) 1080 to 2400 else 2400 to 1080
            val t = CameraGeometry.previewTransform(vw, vh, 1280, 720, sensor, display)
            val b = contentBounds(t)
            val w = b[2] - b[0]
            val h = b[3] - b[1]
            val what = "sensor $sensor display $display"
            assertEquals(t.contentWidth, w, 1e-6, what)
            assertEquals(t.contentHeight, h, 1e-6, what)
            assertTrue(b[0] <= 1e-6 && b[1] <= 1e-6 && b[2] >= vw - 1e-6 && b[3] >= vh - 1e-6, "$what: the view is not covered")
            // undistorted: the content's aspect is the sensor image's, upright on this display
            val sideways = (sensor + display) % 180 == 90
            assertEquals(if (sideways) 720.0 / 1280 else 1280.0 / 720, w / h, 1e-9, what)
            assertEquals(((360 - display) % 360).toDouble(), t.rotate, what)
        }
    }

    @Test
    fun theModelsCropIsDrawnWhereTheModelLooks() {
        // portrait phone: 640x480 frames turned to 480x640; 224 px centre crop = 224/256 of the width, centred
        val t = CameraGeometry.previewTransform(1080, 2400, 640, 480, 90, 0)
        val region = Preprocessor(TestManifests.make(224, "center_crop", "float32", "NCHW")).modelRegion(480, 640)
        val r = t.viewRect(region)
        val contentLeft = (1080 - t.contentWidth) / 2
        assertEquals(contentLeft + 16.0 / 256 * t.contentWidth, r[0], 1e-9)
        assertEquals((r[0] + r[2]) / 2, 540.0, 1e-9)      // centred horizontally
        assertEquals((r[1] + r[3]) / 2, 1200.0, 0.5 * t.contentHeight / 341)  // and vertically (to the floor of the crop offset)
        assertEquals(r[2] - r[0], r[3] - r[1], 1e-6 * t.contentWidth + t.contentHeight / 341)  // square on screen
    }
}
