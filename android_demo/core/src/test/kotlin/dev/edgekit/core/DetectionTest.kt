package dev.edgekit.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test
import java.lang.management.ManagementFactory
import java.util.Random

/** The detector's manifest block, the postprocessing's rules on hand-made outputs, the box mapping and its memory.
 *  Equality with edgekit's Python on real outputs: DetectionFixtureTest. */
class DetectionTest {
    private fun fails(json: String, expect: String) {
        val e = assertThrows(ManifestException::class.java) { Manifest.parse(json) }
        assertTrue(e.message!!.contains(expect), "message '${e.message}' lacks '$expect'")
    }

    @Test
    fun aClassifierStaysAClassifierAndADetectorParses() {
        val classifier = TestManifests.make(64, "center_crop", "float32", "NCHW")
        assertEquals("classification", classifier.task)
        assertNull(classifier.detection)
        assertFalse(classifier.isDetector)
        val d = TestManifests.detector()
        assertTrue(d.isDetector)
        assertEquals(DetectionSpec(330, 0.001, 0.55, 300, 300), d.detection)
        assertEquals("resize", d.resize)
        assertThrows(ManifestException::class.java) { DetectionPostprocessor(classifier) }
    }

    @Test
    fun badDetectionBlocksAreRefusedWithAClearMessage() {
        val good = TestManifests.detectorJson()
        fails(good.replace("\"task\": \"detection\"", "\"task\": \"segmentation\""), "task segmentation is not one the app runs")
        fails(good.replace("\"num_anchors\": 330", "\"num_anchors\": 0"), "num_anchors must be positive")
        fails(good.replace("[1, 330, 14]", "[1, 330, 10]"), "a detector's output must be [1, 330, 14]")
        fails(good.replace("\"iou_threshold\": 0.55", "\"iou_threshold\": 0"), "detection.postprocess is out of range")
        fails(good.replace("\"score_threshold\": 0.001", "\"score_threshold\": 1.5"), "out of range")
        fails(good.replace("\"max_detections\": 300", "\"max_detections\": 2.5"), "max_detections must be an integer")
        fails(good.replace("\"postprocess\"", "\"post\""), "detection.postprocess is missing")
        fails(good.replace("\"detection\": {", "\"detections\": {"), "manifest field detection is missing")
        fails(good.replace("\"resize\": \"resize\"", "\"resize\": \"center_crop\""), "a detection model's resize rule is one of resize, letterbox")
        // a classifier keeps its rules: the plain resize is a detector's
        fails(good.replace("\"task\": \"detection\",", "").replace("[1, 330, 14]", "[1, 10]"), "resize rule is one of center_crop, letterbox")
    }

    /** rows: x1, y1, x2, y2 (fractions), then one probability per class. */
    private fun output(vararg rows: FloatArray): FloatArray = rows.flatMap { it.toList() }.toFloatArray()

    @Test
    fun thresholdNmsAndOrderFollowEdgekitsRules() {
        val m = TestManifests.detector(size = 100, anchors = 5, classes = 2, scoreThreshold = 0.3, iouThreshold = 0.5,
            maxDetections = 10, perClass = 10)
        val p = DetectionPostprocessor(m)
        val t = 0.3f  // float32(0.3) > 0.3 in double: numpy compares in float32, so a score of exactly t is not above
        p.run(output(
            floatArrayOf(0f, 0f, .1f, .1f, .5f, 0f),
            floatArrayOf(.01f, .01f, .1f, .1f, .9f, .9f),   // class 0: suppresses anchor 0 (IoU .81) and 3 (.73; equal score, higher index)
            floatArrayOf(.2f, .2f, .3f, .3f, t, .7f),       // class 0: exactly at the threshold: not a candidate
            floatArrayOf(0f, 0f, .1f, .09f, .9f, .95f),     // class 1: suppresses anchor 1 (IoU .73, lower score)
            floatArrayOf(.5f, .5f, .6f, .6f, .4f, .9f),
        ))
        // class 0 keeps 1 (.9) and 4 (.4); class 1 keeps 3 (.95), 4 (.9) and 2 (.7)
        // pooled: .95 c1 a3, .9 c0 a1, .9 c1 a4, .7 c1 a2, .4 c0 a4
        assertEquals(5, p.count)
        assertArrayEquals(floatArrayOf(.95f, .9f, .9f, .7f, .4f), p.scores.copyOf(5))
        assertArrayEquals(intArrayOf(1, 0, 1, 1, 0), p.labels.copyOf(5))
        assertArrayEquals(intArrayOf(3, 1, 4, 2, 4), p.anchors.copyOf(5))
        assertArrayEquals(doubleArrayOf(.01f * 100.0, .01f * 100.0, .1f * 100.0, .1f * 100.0), p.boxes.copyOfRange(4, 8))
        // the cut-offs: one candidate per class, two detections
        val cut = DetectionPostprocessor(m.copy(detection = m.detection!!.copy(candidatesPerClass = 1, maxDetections = 2)))
        cut.run(output(*Array(5) { i -> floatArrayOf(.1f * i, 0f, .1f * i + .05f, .05f, .5f, .5f) }))
        assertEquals(2, cut.count)
        assertArrayEquals(intArrayOf(0, 1), cut.labels.copyOf(2))  // equal scores: the lower class first
        assertArrayEquals(intArrayOf(0, 0), cut.anchors.copyOf(2))  // equal scores: the lower default box first
        // nothing above the threshold: no detections
        cut.run(FloatArray(5 * 6))
        assertEquals(0, cut.count)
        assertThrows(IllegalArgumentException::class.java) { cut.run(FloatArray(7)) }
    }

    @Test
    fun aQuantizedOutputIsDequantizedLikeEdgekit() {
        for (dtype in listOf("uint8", "int8")) {
            val m = TestManifests.detector(anchors = 50, classes = 3, outputDtype = dtype, scoreThreshold = 0.2)
            val raw = ByteArray(50 * 7).also { Random(7).nextBytes(it) }
            val q = m.outputQuant!!
            val floats = FloatArray(raw.size) {
                val v = if (dtype == "int8") raw[it].toInt() else raw[it].toInt() and 0xFF
                (v.toFloat() - q.zeroPoint.toFloat()) * q.scale
            }
            val a = DetectionPostprocessor(m).also { it.runQuantized(raw) }
            val b = DetectionPostprocessor(m).also { it.run(floats) }
            assertTrue(a.count > 0)
            assertEquals(b.detections(), a.detections())
        }
    }

    @Test
    fun boxesMapBackThroughTheResizeRuleAndOntoTheMirroredPreview() {
        // plain resize of a 640x480 frame to 128: x scales by 5, y by 3.75
        val resize = BoxMapping(128, "resize", 640, 480)
        val image = DoubleArray(8)
        resize.toImage(doubleArrayOf(12.8, 25.6, 64.0, 200.0, -3.0, 0.0, 128.0, 128.0), 2, image)
        assertArrayEquals(doubleArrayOf(64.0, 96.0, 320.0, 480.0, 0.0, 0.0, 640.0, 480.0), image, 1e-9)
        // letterbox of 640x480 to 128: 128x96, 16 px of padding above
        val letterbox = BoxMapping(128, "letterbox", 640, 480)
        letterbox.toImage(doubleArrayOf(0.0, 16.0, 64.0, 64.0), 1, image)
        assertArrayEquals(doubleArrayOf(0.0, 0.0, 320.0, 240.0), image.copyOf(4), 1e-9)
        // the upright frame (480x640 portrait) on a 1080x1440 view: the same aspect, so the view is the frame x 2.25
        val t = CameraGeometry.previewTransform(1080, 1440, 640, 480, 90, 0)
        val portrait = BoxMapping(128, "resize", 480, 640)
        val box = doubleArrayOf(48.0, 64.0, 240.0, 320.0)
        val view = DoubleArray(4)
        portrait.toView(box, 1, t, frontFacing = false, out = view)
        assertArrayEquals(t.viewRect(Region(0.1, 0.1, 0.5, 0.5)), view, 1e-9)
        assertArrayEquals(doubleArrayOf(108.0, 144.0, 540.0, 720.0), view, 1e-9)
        portrait.toView(box, 1, t, frontFacing = true, out = view)  // a front camera's preview is a mirror image
        assertArrayEquals(doubleArrayOf(540.0, 144.0, 972.0, 720.0), view, 1e-9)
    }

    @Test
    fun postprocessingAllocatesNothingPerFrame() {
        val bean = ManagementFactory.getThreadMXBean() as? com.sun.management.ThreadMXBean
        assumeTrue(bean != null && bean.isThreadAllocatedMemorySupported, "this JVM does not count allocated bytes per thread")
        bean!!.isThreadAllocatedMemoryEnabled = true
        val m = TestManifests.detector()  // 330 default boxes, 10 classes, threshold 0.001: up to 300 detections
        val random = Random(3)
        val out = FloatArray(330 * 14) { random.nextFloat() / 10 }
        for (a in 0 until 330) {  // small boxes scattered over the frame: NMS keeps most, 300 detections remain
            val r = a * 14
            out[r] = random.nextFloat() * 0.95f
            out[r + 1] = random.nextFloat() * 0.95f
            out[r + 2] = out[r] + 0.03f
            out[r + 3] = out[r + 1] + 0.03f
        }
        val p = DetectionPostprocessor(m)
        val image = DoubleArray(p.capacity * 4)
        val mapping = BoxMapping(128, "resize", 480, 640)
        repeat(20) { p.run(out); mapping.toImage(p.boxes, p.count, image) }
        val id = Thread.currentThread().id
        val before = bean.getThreadAllocatedBytes(id)
        repeat(50) { p.run(out); mapping.toImage(p.boxes, p.count, image) }
        val perFrame = (bean.getThreadAllocatedBytes(id) - before) / 50
        val meter = bean.getThreadAllocatedBytes(id).let { p.detections(); bean.getThreadAllocatedBytes(id) - it }
        Fixtures.report("  detection postprocessing (330 boxes x 10 classes, ${p.count} kept): $perFrame bytes per frame; detections() allocates $meter")
        assertEquals(300, p.count)
        assertTrue(meter > 1000, "the meter saw $meter bytes for 300 objects: broken")
        assertTrue(perFrame <= 64, "the detection path allocated $perFrame bytes per frame")
    }
}
