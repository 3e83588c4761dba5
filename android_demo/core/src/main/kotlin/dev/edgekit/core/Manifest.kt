package dev.edgekit.core

/** A manifest the app cannot use: missing or foreign, inconsistent, or asking for what the app cannot do. */
class ManifestException(message: String) : Exception(message)

/** real = scale * (q - zeroPoint) */
data class Quant(val scale: Float, val zeroPoint: Int)

/**
 * A detector's `detection` block (docs/contracts.md, "A detector's manifest"): the output is [1, numAnchors,
 * 4 + classes] (corners normalised to the input frame, then each object class's probability) and non-maximum
 * suppression runs outside the graph with these settings, as edgekit.detection_post.postprocess does.
 */
data class DetectionSpec(
    val numAnchors: Int, val scoreThreshold: Double, val iouThreshold: Double,
    val maxDetections: Int, val candidatesPerClass: Int,
)

/** The parts of an edgekit export manifest (docs/manifest.md, schema edgekit-manifest/1) the app needs. */
data class Manifest(
    val schema: String, val model: String, val format: String, val precision: String,
    val file: String, val inputShape: IntArray, val layout: String,
    val inputDtype: String, val inputQuant: Quant?, val outputDtype: String,
    val outputQuant: Quant?, val numClasses: Int, val imgSize: Int, val mean: FloatArray, val std: FloatArray,
    val resize: String, val labels: List<String>,
    /** mean and std exactly as the manifest's decimals parsed to double (the preprocessing computes in double);
     *  `mean`/`std` are the same values rounded to float32. */
    val meanDouble: DoubleArray = DoubleArray(3) { mean[it].toDouble() },
    val stdDouble: DoubleArray = DoubleArray(3) { std[it].toDouble() },
    /** "classification" (absent in the manifest) or "detection" (then [detection] is set). */
    val task: String = TASK_CLASSIFICATION,
    val detection: DetectionSpec? = null,
) {
    val isDetector: Boolean get() = task == TASK_DETECTION

    /** Values in the model's one output: a score per class, or a detector's A x (4 + classes). */
    val outputValues: Int get() = detection?.let { it.numAnchors * (BOX_COLUMNS + numClasses) } ?: numClasses

    companion object {
        const val SCHEMA = "edgekit-manifest/1"
        val FORMATS = setOf("onnx", "tflite", "executorch")
        private val DTYPES = setOf("float32", "int8", "uint8")
        const val TASK_CLASSIFICATION = "classification"
        const val TASK_DETECTION = "detection"
        /** Columns of a detector's output row before the class probabilities: x1, y1, x2, y2. */
        const val BOX_COLUMNS = 4

        /** Parses manifest.json (and labels.txt when given, which must agree with it); throws ManifestException. */
        fun parse(manifestJson: String, labelsTxt: String? = null): Manifest {
            val parsed = try {
                Json.parse(manifestJson)
            } catch (e: IllegalArgumentException) {
                throw ManifestException("manifest.json is not valid JSON: ${e.message}")
            }
            val root = parsed as? Map<*, *> ?: throw ManifestException("manifest.json is not a JSON object")
            val schema = root["schema"] as? String
            if (schema != SCHEMA) {
                throw ManifestException("not an edgekit manifest: schema ${schema ?: "missing"}, expected $SCHEMA")
            }
            val task = (root["task"] ?: TASK_CLASSIFICATION) as? String
                ?: throw ManifestException("manifest field task must be a string")
            if (task != TASK_CLASSIFICATION && task != TASK_DETECTION) {
                throw ManifestException("task $task is not one the app runs ($TASK_CLASSIFICATION, $TASK_DETECTION)")
            }
            val format = str(root, "format")
            if (format !in FORMATS) {
                throw ManifestException("format $format cannot run in the app (it runs ${FORMATS.sorted().joinToString()})")
            }
            val input = obj(root, "input")
            val output = obj(root, "output")
            val pre = obj(root, "preprocessing")
            val imgSize = int(pre, "img_size", "preprocessing")
            if (imgSize < 1) throw ManifestException("preprocessing.img_size must be positive, got $imgSize")
            val layout = (input["layout"] as? String) ?: "NCHW"
            if (layout != "NCHW" && layout != "NHWC") throw ManifestException("unsupported input layout $layout")
            val inputShape = shape(input["shape"], layout, imgSize)
            val inputDtype = dtype(input, "input")
            val outputDtype = dtype(output, "output")
            val meanDouble = triple(pre, "mean")
            val stdDouble = triple(pre, "std")
            val mean = FloatArray(3) { meanDouble[it].toFloat() }
            val std = FloatArray(3) { stdDouble[it].toFloat() }
            if (stdDouble.any { !(it > 0.0) }) throw ManifestException("preprocessing.std must be positive")
            val resize = (pre["resize"] as? String) ?: "center_crop"
            val rules = if (task == TASK_DETECTION) DETECTION_RESIZE_RULES else CLASSIFIER_RESIZE_RULES
            if (resize !in rules) {
                throw ManifestException(if (resize in ALL_RESIZE_RULES) "a ${task} model's resize rule is one of ${rules.joinToString()}, got $resize"
                    else "unsupported resize rule $resize")
            }
            (pre["channel_order"] as? String)?.let {
                if (it != "RGB") throw ManifestException("unsupported channel order $it (the app feeds RGB)")
            }
            val numClasses = int(root, "num_classes", "manifest")
            val labels = (root["labels"] as? List<*>)?.map { it as? String ?: throw ManifestException("labels must be strings") }
                ?: throw ManifestException("manifest has no labels")
            if (labels.size != numClasses) {
                throw ManifestException("the manifest lists ${labels.size} labels for num_classes $numClasses")
            }
            if (labelsTxt != null) {
                val lines = labelsTxt.split('\n').map { it.trimEnd('\r') }.let { if (it.lastOrNull() == "") it.dropLast(1) else it }
                if (lines.size != numClasses) {
                    throw ManifestException("labels.txt has ${lines.size} labels, the manifest says $numClasses classes")
                }
                if (lines != labels) throw ManifestException("labels.txt differs from the manifest's labels")
            }
            val outputShape = output["shape"] as? List<*>
            val detection = if (task == TASK_DETECTION) detectionSpec(root, outputShape, numClasses) else null
            val outputCount = (outputShape?.lastOrNull() as? Double)?.toInt()
            if (detection == null && outputCount != null && outputCount != numClasses) {
                throw ManifestException("the output has $outputCount values for $numClasses classes")
            }
            return Manifest(
                schema, str(root, "model"), format, str(root, "precision"), str(root, "file"), inputShape, layout,
                inputDtype, quant(input, inputDtype, "input"), outputDtype, quant(output, outputDtype, "output"),
                numClasses, imgSize, mean, std, resize, labels, meanDouble, stdDouble, task, detection,
            )
        }

        val CLASSIFIER_RESIZE_RULES = listOf("center_crop", "letterbox")
        val DETECTION_RESIZE_RULES = listOf("resize", "letterbox")  // edgekit.preprocess: never a crop that cuts boxes
        private val ALL_RESIZE_RULES = setOf("center_crop", "letterbox", "resize")

        /** The `detection` block and the output shape it implies: [1, A, 4 + K] (a dynamic batch counts as 1). */
        private fun detectionSpec(root: Map<*, *>, outputShape: List<*>?, numClasses: Int): DetectionSpec {
            val d = obj(root, "detection")
            val anchors = int(d, "num_anchors", "detection")
            if (anchors < 1) throw ManifestException("detection.num_anchors must be positive, got $anchors")
            val post = d["postprocess"] as? Map<*, *> ?: throw ManifestException("detection.postprocess is missing")
            val score = number(post, "score_threshold")
            val iou = number(post, "iou_threshold")
            val maxDetections = int(post, "max_detections", "detection.postprocess")
            val candidates = int(post, "candidates_per_class", "detection.postprocess")
            if (!(score >= 0.0 && score < 1.0) || !(iou > 0.0 && iou <= 1.0) || maxDetections < 1 || candidates < 1) {
                throw ManifestException("detection.postprocess is out of range: score_threshold $score, iou_threshold $iou, " +
                    "max_detections $maxDetections, candidates_per_class $candidates")
            }
            val expected = listOf(1, anchors, BOX_COLUMNS + numClasses)
            if (outputShape != null) {
                val dims = outputShape.mapIndexed { i, v -> if (i == 0 && v == null) 1 else (v as? Double)?.toInt() }
                if (dims != expected) {
                    throw ManifestException("a detector's output must be $expected ([1, anchors, 4 + classes]), the manifest says $outputShape")
                }
            }
            return DetectionSpec(anchors, score, iou, maxDetections, candidates)
        }

        private fun number(o: Map<*, *>, key: String): Double =
            o[key] as? Double ?: throw ManifestException("detection.postprocess field $key is missing")

        private fun str(o: Map<*, *>, key: String): String =
            o[key] as? String ?: throw ManifestException("manifest field $key is missing")

        private fun obj(o: Map<*, *>, key: String): Map<*, *> =
            o[key] as? Map<*, *> ?: throw ManifestException("manifest field $key is missing")

        private fun int(o: Map<*, *>, key: String, where: String): Int {
            val v = o[key] as? Double ?: throw ManifestException("$where field $key is missing")
            if (v != Math.floor(v)) throw ManifestException("$where field $key must be an integer, got $v")
            return v.toInt()
        }

        private fun triple(o: Map<*, *>, key: String): DoubleArray {
            val v = o[key] as? List<*>
            if (v == null || v.size != 3 || v.any { it !is Double }) {
                throw ManifestException("preprocessing.$key must be 3 numbers (R, G, B)")
            }
            return DoubleArray(3) { v[it] as Double }
        }

        private fun dtype(o: Map<*, *>, where: String): String {
            val d = o["dtype"] as? String ?: throw ManifestException("$where.dtype is missing")
            if (d !in DTYPES) throw ManifestException("unsupported $where dtype $d (the app handles ${DTYPES.joinToString()})")
            return d
        }

        private fun quant(o: Map<*, *>, dtype: String, where: String): Quant? {
            if (dtype == "float32") return null
            val q = o["quantization"] as? Map<*, *>
                ?: throw ManifestException("$where is $dtype but has no quantization (scale, zero_point)")
            val scale = (q["scale"] as? Double)?.toFloat()
            val zero = q["zero_point"] as? Double
            if (scale == null || !(scale > 0f) || zero == null) throw ManifestException("$where.quantization needs scale > 0 and zero_point")
            return Quant(scale, zero.toInt())
        }

        /** [1, 3, S, S] (NCHW) or [1, S, S, 3] (NHWC); a dynamic (null) batch becomes 1. */
        private fun shape(raw: Any?, layout: String, imgSize: Int): IntArray {
            val expected = if (layout == "NCHW") intArrayOf(1, 3, imgSize, imgSize) else intArrayOf(1, imgSize, imgSize, 3)
            if (raw == null) return expected
            val dims = raw as? List<*> ?: throw ManifestException("input.shape must be a list")
            val shape = IntArray(dims.size) { i -> if (i == 0 && dims[0] == null) 1 else ((dims[i] as? Double)?.toInt() ?: -1) }
            if (!shape.contentEquals(expected)) {
                throw ManifestException("input shape ${dims} does not match $layout at img_size $imgSize (expected ${expected.toList()})")
            }
            return shape
        }
    }

    override fun equals(other: Any?): Boolean = other is Manifest && toString() == other.toString()
    override fun hashCode(): Int = toString().hashCode()
    override fun toString(): String =
        "Manifest($model $format-$precision, input ${inputShape.toList()} $layout $inputDtype $inputQuant, " +
            "output $outputDtype $outputQuant, $numClasses classes, img $imgSize $resize, mean ${mean.toList()}, std ${std.toList()}" +
            (if (detection != null) ", $task $detection" else "") + ")"
}
