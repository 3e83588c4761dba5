package dev.edgekit.core.bench

import dev.edgekit.core.BoxMapping
import dev.edgekit.core.DetectionPostprocessor
import dev.edgekit.core.Frame
import dev.edgekit.core.FramePipeline
import dev.edgekit.core.ReferencePreprocessor
import dev.edgekit.core.ReferenceRotation
import dev.edgekit.core.ReferenceYuv
import dev.edgekit.core.TestManifests
import java.lang.management.ManagementFactory
import java.util.Locale

/**
 * android_demo/core/bench.sh: the camera frame path on the JVM. A 640x480 NV21-style frame (direct buffers, padded
 * rows, pixel stride 2) turned 90 degrees (a portrait phone) through YUV -> RGB -> rotate -> float32 NCHW tensor
 * (centre crop, ImageNet mean/std), per model size; after warm-up, the bytes this thread allocated per frame and
 * the median time per frame. The same for bb4822d's allocating path, for comparison. Then a detector's path: the
 * same frame to 128 px (plain resize) + the detection postprocessing (edgekit's NMS) on a synthetic output of the
 * fixture detector's size (330 default boxes x 10 classes, score threshold 0.001) and of torchvision's COCO
 * SSDLite320 (3234 x 90), each line "detection ...: N bytes allocated per frame, T ms median".
 *   bench.sh [--frames N] [--warmup N]
 */
fun main(args: Array<String>) {
    var frames = 200
    var warmup = 50
    var i = 0
    while (i < args.size) {
        when (args[i]) {
            "--frames" -> frames = args[++i].toInt()
            "--warmup" -> warmup = args[++i].toInt()
            else -> { System.err.println("usage: bench.sh [--frames N] [--warmup N]"); kotlin.system.exitProcess(2) }
        }
        i++
    }
    val bean = ManagementFactory.getThreadMXBean() as com.sun.management.ThreadMXBean
    bean.isThreadAllocatedMemoryEnabled = true
    val id = Thread.currentThread().id
    val frame = Frame.random(640, 480, interleaved = true, seed = 3)
    val cpu = cpuName()
    println("JVM ${System.getProperty("java.vm.name")} ${System.getProperty("java.version")}, CPU: $cpu, " +
        "${Runtime.getRuntime().availableProcessors()} cores visible; $warmup warm-up and $frames timed frames, one thread")

    fun measureAs(label: String, n: Int, step: () -> Unit) {
        repeat(warmup) { step() }
        val times = DoubleArray(n)
        val before = bean.getThreadAllocatedBytes(id)
        for (k in 0 until n) {
            val t0 = System.nanoTime()
            step()
            times[k] = (System.nanoTime() - t0) / 1e6
        }
        val perFrame = (bean.getThreadAllocatedBytes(id) - before) / n
        times.sort()
        val median = if (n % 2 == 1) times[n / 2] else (times[n / 2 - 1] + times[n / 2]) / 2
        println(String.format(Locale.US, "%s: %d bytes allocated per frame, %.2f ms median", label, perFrame, median))
    }

    fun measure(label: String, size: Int, n: Int, step: () -> Unit) =
        measureAs("$label 640x480 -> $size px", n, step)

    for (size in listOf(64, 224)) {
        val manifest = TestManifests.make(size, "center_crop", "float32", "NCHW")
        val pipeline = FramePipeline(manifest)
        measure("frame path", size, frames) {
            pipeline.process(frame.y, frame.u, frame.v, 640, 480, frame.yRowStride, frame.uvRowStride, frame.uvPixelStride, 90)
        }
        measure("before (bb4822d, allocating) frame path", size, maxOf(10, frames / 10)) {
            val rgb = ReferenceYuv.toRgb(frame.y, frame.u, frame.v, 640, 480, frame.yRowStride, frame.uvRowStride, frame.uvPixelStride)
            ReferencePreprocessor(manifest).tensor(ReferenceRotation.rotate(rgb, 90))
        }
    }

    val detector = TestManifests.detector()
    val detectionPipeline = FramePipeline(detector)
    val fixtureSize = DetectionPostprocessor(detector)
    val fixtureOutput = syntheticOutput(330, 10, seed = 3)
    val image = DoubleArray(fixtureSize.capacity * 4)
    val mapping = BoxMapping(128, "resize", 480, 640)
    measureAs("detection path 640x480 -> 128 px (resize) + NMS (330 boxes x 10 classes)", frames) {
        detectionPipeline.process(frame.y, frame.u, frame.v, 640, 480, frame.yRowStride, frame.uvRowStride, frame.uvPixelStride, 90)
        fixtureSize.run(fixtureOutput)
        mapping.toImage(fixtureSize.boxes, fixtureSize.count, image)
    }
    measureAs("detection postprocessing only (330 boxes x 10 classes, ${fixtureSize.run(fixtureOutput)} kept)", frames) {
        fixtureSize.run(fixtureOutput)
    }
    val coco = DetectionPostprocessor(TestManifests.detector(size = 320, anchors = 3234, classes = 90))
    val cocoOutput = syntheticOutput(3234, 90, seed = 5)
    measureAs("detection postprocessing only (3234 boxes x 90 classes, ${coco.run(cocoOutput)} kept)", frames) {
        coco.run(cocoOutput)
    }
}

/** A detector's output: small boxes scattered over the frame, probabilities r^4 / classes (most below 0.001). */
private fun syntheticOutput(anchors: Int, classes: Int, seed: Long): FloatArray {
    val random = java.util.Random(seed)
    val columns = 4 + classes
    return FloatArray(anchors * columns).also { out ->
        for (a in 0 until anchors) {
            val r = a * columns
            out[r] = random.nextFloat() * 0.9f
            out[r + 1] = random.nextFloat() * 0.9f
            out[r + 2] = out[r] + 0.02f + random.nextFloat() * 0.08f
            out[r + 3] = out[r + 1] + 0.02f + random.nextFloat() * 0.08f
            for (k in 0 until classes) {
                val u = random.nextFloat()
                out[r + 4 + k] = u * u * u * u * 4f / classes
            }
        }
    }
}

private fun cpuName(): String = try {
    java.io.File("/proc/cpuinfo").readLines().firstOrNull { it.startsWith("model name") }?.substringAfter(":")?.trim() ?: "unknown"
} catch (e: Exception) {
    "unknown"
}
