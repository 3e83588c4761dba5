package dev.edgekit.core

/** A manifest the app cannot use: missing or foreign, inconsistent, or asking for what the app cannot do. */
class ManifestException(message: String) : Exception(message)

/** real = scale * (q - zeroPoint) */
data class Quant(val scale: Float, val zeroPoint: Int)

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
) {
    companion object {
        const val SCHEMA = "edgekit-manifest/1"
        val FORMATS = setOf("onnx", "tflite", "executorch")
        private val DTYPES = setOf("float32", "int8", "uint8")

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
            if (resize != "center_crop" && resize != "letterbox") throw ManifestException("unsupported resize rule $resize")
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
            val outputCount = (outputShape?.lastOrNull() as? Double)?.toInt()
            if (outputCount != null && outputCount != numClasses) {
                throw ManifestException("the output has $outputCount values for $numClasses classes")
            }
            return Manifest(
                schema, str(root, "model"), format, str(root, "precision"), str(root, "file"), inputShape, layout,
                inputDtype, quant(input, inputDtype, "input"), outputDtype, quant(output, outputDtype, "output"),
                numClasses, imgSize, mean, std, resize, labels, meanDouble, stdDouble,
            )
        }

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
            "output $outputDtype $outputQuant, $numClasses classes, img $imgSize $resize, mean ${mean.toList()}, std ${std.toList()})"
}
