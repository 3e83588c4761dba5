package dev.edgekit.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.lang.management.ManagementFactory

/**
 * The reused-buffer frame path against the allocating one it replaced (Reference.kt, bb4822d's code) bit for bit,
 * and its memory: at most 64 KiB allocated per 640x480 frame after warm-up (the allocating path: megabytes).
 * Timings are not tested here: android_demo/core/bench.sh measures them.
 */
class FramePathTest {
    private fun reference(manifest: Manifest, f: Frame, degrees: Int): InputTensor {
        val rgb = ReferenceYuv.toRgb(f.y, f.u, f.v, f.width, f.height, f.yRowStride, f.uvRowStride, f.uvPixelStride)
        return ReferencePreprocessor(manifest).tensor(ReferenceRotation.rotate(rgb, degrees))
    }

    private fun process(p: FramePipeline, f: Frame, degrees: Int): InputTensor =
        p.process(f.y, f.u, f.v, f.width, f.height, f.yRowStride, f.uvRowStride, f.uvPixelStride, degrees)

    private fun assertSameValues(expected: InputTensor, actual: InputTensor, what: String) {
        assertArrayEquals(expected.shape, actual.shape, what)
        if (expected.floats != null) {
            val e = expected.floats!!
            val a = actual.floats!!
            assertEquals(e.size, a.size, what)
            for (i in e.indices) {
                if (java.lang.Float.floatToRawIntBits(e[i]) != java.lang.Float.floatToRawIntBits(a[i])) {
                    throw AssertionError("$what: value $i is ${a[i]}, the reference path's is ${e[i]}")
                }
            }
        } else {
            assertArrayEquals(expected.bytes, actual.bytes, what)
        }
    }

    @TestFactory
    fun pipelineEqualsTheAllocatingPathBitForBit(): List<DynamicTest> {
        val sizes = listOf(64, 224, 7)
        val frames = listOf(intArrayOf(640, 480), intArrayOf(33, 17), intArrayOf(480, 640), intArrayOf(300, 300), intArrayOf(5, 3))
        return sizes.flatMap { size ->
            TestManifests.variants.map { (resize, dtype, layout) ->
                dynamicTest("$size px $resize $dtype $layout") {
                    val manifest = TestManifests.make(size, resize, dtype, layout)
                    val pipeline = FramePipeline(manifest)  // one pipeline across sizes and rotations: buffers re-planned
                    var seed = 1L
                    for ((w, h) in frames) for (degrees in listOf(0, 90, 180, 270, -90)) {
                        val frame = Frame.random(w, h, interleaved = seed % 2 == 0L, seed = seed++)
                        val what = "${w}x$h turned $degrees"
                        val out = process(pipeline, frame, degrees)
                        assertSame(pipeline.tensor, out)
                        assertSameValues(reference(manifest, frame, degrees), out, what)
                        val turned = degrees == 90 || degrees == 270 || degrees == -90
                        assertEquals(if (turned) h else w, pipeline.uprightWidth, what)
                    }
                }
            }
        }
    }

    @Test
    fun rgbAndRotationIntoReusedArraysEqualTheAllocatingOnes() {
        val f = Frame.random(37, 23, interleaved = true, seed = 7)
        val expected = ReferenceYuv.toRgb(f.y, f.u, f.v, f.width, f.height, f.yRowStride, f.uvRowStride, f.uvPixelStride)
        val out = ByteArray(37 * 23 * 3 + 5)  // larger than needed: the tail is left alone
        Yuv.toRgbInto(f.y, f.u, f.v, f.width, f.height, f.yRowStride, f.uvRowStride, f.uvPixelStride, out)
        assertArrayEquals(expected.rgb, out.copyOf(expected.rgb.size))
        for (degrees in listOf(0, 90, 180, 270, 450, -180)) {
            val turned = ByteArray(out.size)
            Rotation.rotateInto(expected.rgb, 37, 23, degrees, turned)
            assertArrayEquals(ReferenceRotation.rotate(expected, degrees).rgb, turned.copyOf(expected.rgb.size), "$degrees")
        }
    }

    @Test
    fun modelRegionIsTheCentreCropOrTheWholeFrame() {
        // 480x640 upright frame at 224 px: shorter side to 256, longer 341; crop 224 at (16, 58) of 256x341
        val crop = TestManifests.make(224, "center_crop", "float32", "NCHW")
        val r = FramePipeline(crop).modelRegion(480, 640)
        assertEquals(16.0 / 256, r.left, 1e-12)
        assertEquals(58.0 / 341, r.top, 1e-12)
        assertEquals(240.0 / 256, r.right, 1e-12)
        assertEquals(282.0 / 341, r.bottom, 1e-12)
        assertEquals(Region(0.0, 0.0, 1.0, 1.0), FramePipeline(TestManifests.make(224, "letterbox", "float32", "NCHW")).modelRegion(480, 640))
    }

    /** Bytes this thread allocated while `block` ran `frames` times, per frame (HotSpot's per-thread counter). */
    private fun allocatedPerFrame(frames: Int, block: () -> Unit): Long {
        val bean = ManagementFactory.getThreadMXBean() as? com.sun.management.ThreadMXBean
        assumeTrue(bean != null && bean.isThreadAllocatedMemorySupported, "this JVM does not count allocated bytes per thread")
        bean!!.isThreadAllocatedMemoryEnabled = true
        val id = Thread.currentThread().id
        val before = bean.getThreadAllocatedBytes(id)
        repeat(frames) { block() }
        return (bean.getThreadAllocatedBytes(id) - before) / frames
    }

    @TestFactory
    fun aCameraFrameAllocatesAtMost64KiB(): List<DynamicTest> = listOf(64, 224).flatMap { size ->
        TestManifests.variants.map { (resize, dtype, layout) ->
            dynamicTest("640x480 -> $size px $resize $dtype $layout") {
                val manifest = TestManifests.make(size, resize, dtype, layout)
                val frame = Frame.random(640, 480, interleaved = true, seed = 3)
                val pipeline = FramePipeline(manifest)
                repeat(5) { process(pipeline, frame, 90) }  // warm-up: buffers sized, code compiled
                val perFrame = allocatedPerFrame(20) { process(pipeline, frame, 90) }
                // the meter works: bb4822d's allocating path, measured the same way, allocates megabytes
                val before = allocatedPerFrame(2) { reference(manifest, frame, 90) }
                Fixtures.report("  640x480 -> $size px $resize $dtype $layout: $perFrame bytes per frame (bb4822d's path: $before)")
                assertTrue(before > 1_000_000, "the allocating path measured $before bytes per frame: the meter is broken")
                assertTrue(perFrame <= 64 * 1024, "the frame path allocated $perFrame bytes per frame (limit 65536)")
            }
        }
    }
}
