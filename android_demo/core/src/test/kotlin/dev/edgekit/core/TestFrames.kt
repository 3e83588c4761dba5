package dev.edgekit.core

import java.nio.ByteBuffer
import java.util.Random

// Shared by the JUnit tests and android_demo/core/bench.sh (no JUnit here).

/** A YUV_420_888 frame as a camera hands it over: direct buffers, padded rows, planar or interleaved chroma. */
class Frame(val width: Int, val height: Int, val y: ByteBuffer, val u: ByteBuffer, val v: ByteBuffer,
            val yRowStride: Int, val uvRowStride: Int, val uvPixelStride: Int) {
    companion object {
        fun random(width: Int, height: Int, interleaved: Boolean, seed: Long, rowPadding: Int = 16): Frame {
            val random = Random(seed)
            fun direct(bytes: ByteArray): ByteBuffer = ByteBuffer.allocateDirect(bytes.size).put(bytes).also { it.rewind() }
            val yStride = width + rowPadding
            val yBytes = ByteArray((height - 1) * yStride + width).also { random.nextBytes(it) }
            val cw = (width + 1) / 2
            val ch = (height + 1) / 2
            return if (interleaved) {
                // NV21 as Android exposes it: V and U planes share one buffer, U one byte after V, pixel stride 2
                val stride = 2 * cw + rowPadding
                val vu = ByteArray((ch - 1) * stride + 2 * cw).also { random.nextBytes(it) }
                val buffer = direct(vu)
                val v = buffer.duplicate().also { it.limit(vu.size - 1) }.slice()
                val u = buffer.duplicate().also { it.position(1) }.slice()
                Frame(width, height, direct(yBytes), u, v, yStride, stride, 2)
            } else {
                val stride = cw + rowPadding
                val size = (ch - 1) * stride + cw
                Frame(width, height, direct(yBytes), direct(ByteArray(size).also { random.nextBytes(it) }),
                    direct(ByteArray(size).also { random.nextBytes(it) }), yStride, stride, 1)
            }
        }
    }
}

object TestManifests {
    /** A manifest of the given input rules (ImageNet statistics, 10 classes), parsed by the app's parser. */
    fun make(size: Int, resize: String, dtype: String, layout: String): Manifest {
        val shape = if (layout == "NCHW") "[1, 3, $size, $size]" else "[1, $size, $size, 3]"
        val quant = when (dtype) {
            "int8" -> ", \"quantization\": {\"scale\": 0.0186584, \"zero_point\": -14}"
            "uint8" -> ", \"quantization\": {\"scale\": 0.0186584, \"zero_point\": 114}"
            else -> ""
        }
        val labels = (0 until 10).joinToString(", ") { "\"c$it\"" }
        return Manifest.parse("""
            {"schema": "edgekit-manifest/1", "model": "m", "format": "onnx", "precision": "fp32", "file": "model.onnx",
             "input": {"name": "x", "shape": $shape, "dtype": "$dtype", "layout": "$layout"$quant},
             "output": {"shape": [1, 10], "dtype": "float32"},
             "preprocessing": {"img_size": $size, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                               "resize": "$resize", "channel_order": "RGB"},
             "num_classes": 10, "labels": [$labels]}
        """.trimIndent())
    }

    /** A detector's manifest (docs/contracts.md): output [1, anchors, 4 + classes], plain resize, NMS settings. */
    fun detectorJson(
        size: Int = 128, anchors: Int = 330, classes: Int = 10, outputDtype: String = "float32",
        scoreThreshold: Double = 0.001, iouThreshold: Double = 0.55, maxDetections: Int = 300, perClass: Int = 300,
        resize: String = "resize",
    ): String {
        val labels = (0 until classes).joinToString(", ") { "\"c$it\"" }
        val quant = when (outputDtype) {
            "uint8" -> ", \"quantization\": {\"scale\": 0.00390625, \"zero_point\": 0}"
            "int8" -> ", \"quantization\": {\"scale\": 0.00390625, \"zero_point\": -128}"
            else -> ""
        }
        return """
            {"schema": "edgekit-manifest/1", "model": "ssdlite", "format": "onnx", "precision": "fp32", "file": "model.onnx",
             "task": "detection",
             "input": {"name": "input", "shape": [1, 3, $size, $size], "dtype": "float32", "layout": "NCHW"},
             "output": {"name": "detections", "shape": [1, $anchors, ${4 + classes}], "dtype": "$outputDtype"$quant},
             "preprocessing": {"img_size": $size, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                               "resize": "$resize", "channel_order": "RGB"},
             "num_classes": $classes, "labels": [$labels],
             "detection": {"num_anchors": $anchors, "layout": "corners then probabilities",
                           "postprocess": {"score_threshold": $scoreThreshold, "iou_threshold": $iouThreshold,
                                           "max_detections": $maxDetections, "candidates_per_class": $perClass},
                           "postprocess_function": "edgekit.detection_post.postprocess"}}
        """.trimIndent()
    }

    fun detector(
        size: Int = 128, anchors: Int = 330, classes: Int = 10, outputDtype: String = "float32",
        scoreThreshold: Double = 0.001, iouThreshold: Double = 0.55, maxDetections: Int = 300, perClass: Int = 300,
    ): Manifest = Manifest.parse(detectorJson(size, anchors, classes, outputDtype, scoreThreshold, iouThreshold, maxDetections, perClass))

    val variants = listOf(
        listOf("center_crop", "float32", "NCHW"), listOf("center_crop", "int8", "NCHW"),
        listOf("letterbox", "float32", "NHWC"), listOf("letterbox", "uint8", "NCHW"), listOf("center_crop", "uint8", "NHWC"),
    )
}
