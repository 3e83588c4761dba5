package dev.edgekit.core

/** One detection: corners (x1, y1, x2, y2) in some frame's pixels, its score and its object class. */
data class Detection(
    val left: Double, val top: Double, val right: Double, val bottom: Double,
    val score: Float, val label: Int, val name: String,
)

/**
 * A detector's output -> its detections, from the manifest alone and exactly as edgekit.detection_post.postprocess
 * (docs/contracts.md, "A detector's manifest"): the output is [1, A, 4 + K], per default box the corners normalised
 * to the input frame, then each object class's probability. For each class k: the boxes whose p_k > score_threshold
 * (compared in float32, as numpy compares a float32 array with a Python float), the candidates_per_class best by p_k
 * (ties: the lower default-box index first); greedy NMS within the class (IoU of the corner boxes in pixels, in
 * double, above iou_threshold drops the later box); all kept boxes in decreasing score order (ties: the lower class,
 * then the lower default-box index), at most max_detections. Boxes are in the network's input frame (pixels, 0 to
 * img_size), as Python's; [BoxMapping] takes them back to the camera frame and the preview.
 *
 * Every buffer is made once: [run] allocates nothing (android_demo/core/bench.sh measures it). Results are in
 * [boxes] (4 per detection), [scores], [labels] and [anchors], the first [count] of each, overwritten by the next
 * run. Not thread-safe: one per analysis thread.
 */
class DetectionPostprocessor(val manifest: Manifest) {
    val spec: DetectionSpec = manifest.detection
        ?: throw ManifestException("not a detector's manifest (task ${manifest.task}): no detection block")
    private val anchorCount = spec.numAnchors
    private val classes = manifest.numClasses
    private val columns = Manifest.BOX_COLUMNS + classes
    private val size = manifest.imgSize.toDouble()
    private val threshold = spec.scoreThreshold.toFloat()
    private val iouThreshold = spec.iouThreshold
    private val perClass = minOf(spec.candidatesPerClass, anchorCount)
    private val outputQuant: Quant? = if (manifest.outputDtype == "float32") null
        else manifest.outputQuant ?: throw ManifestException("${manifest.outputDtype} output without quantization")

    /** Values the output must have: A * (4 + K). */
    val outputSize: Int = anchorCount * columns

    private val dequantized = if (outputQuant != null) FloatArray(outputSize) else FloatArray(0)
    private var output = dequantized
    private val candidates = IntArray(anchorCount)
    private val alive = BooleanArray(perClass)
    private var label = 0  // the class whose candidates are being sorted (read by the comparator)

    private val poolCapacity = classes * perClass
    private val poolAnchor = IntArray(poolCapacity)
    private val poolLabel = IntArray(poolCapacity)
    private val poolScore = FloatArray(poolCapacity)
    private val poolOrder = IntArray(poolCapacity)

    /** The most detections one run can give. */
    val capacity: Int = minOf(spec.maxDetections, poolCapacity)

    /** x1, y1, x2, y2 of each detection in the network's input frame (pixels), [count] of them. */
    val boxes = DoubleArray(capacity * 4)
    val scores = FloatArray(capacity)
    val labels = IntArray(capacity)

    /** The default box (row of the output) each detection comes from. */
    val anchors = IntArray(capacity)
    var count = 0
        private set

    /** Float32 output values (the backend's logits array), row-major [A, 4 + K]. Returns [count]. */
    fun run(values: FloatArray): Int {
        require(values.size == outputSize) { "a detector's output has ${values.size} values, the manifest says $anchorCount x $columns" }
        output = values
        return decode()
    }

    /** Quantized output bytes (int8 or uint8 as the manifest says), dequantized as edgekit does, into a kept buffer. */
    fun runQuantized(raw: ByteArray): Int {
        val q = outputQuant ?: throw IllegalStateException("the manifest's output is float32, not quantized")
        require(raw.size == outputSize) { "a detector's output has ${raw.size} values, the manifest says $anchorCount x $columns" }
        val signed = manifest.outputDtype == "int8"
        for (i in raw.indices) {
            val v = if (signed) raw[i].toInt() else raw[i].toInt() and 0xFF
            dequantized[i] = (v.toFloat() - q.zeroPoint.toFloat()) * q.scale  // (q - zp) * scale in float32, as numpy
        }
        output = dequantized
        return decode()
    }

    /** The last run's detections as objects (allocates: for tests, tools and the screen's few boxes). */
    fun detections(): List<Detection> = List(count) {
        Detection(boxes[4 * it], boxes[4 * it + 1], boxes[4 * it + 2], boxes[4 * it + 3], scores[it], labels[it], manifest.labels[labels[it]])
    }

    private fun decode(): Int {
        val out = output
        var pooled = 0
        for (k in 0 until classes) {
            val column = Manifest.BOX_COLUMNS + k
            var found = 0
            for (a in 0 until anchorCount) if (out[a * columns + column] > threshold) candidates[found++] = a
            if (found == 0) continue
            label = k
            heapSort(candidates, found) { x, y -> candidateBefore(x, y) }
            val m = minOf(found, perClass)
            for (i in 0 until m) alive[i] = true
            for (i in 0 until m) {
                if (!alive[i]) continue
                val kept = candidates[i]
                poolAnchor[pooled] = kept
                poolLabel[pooled] = k
                poolScore[pooled] = out[kept * columns + column]
                poolOrder[pooled] = pooled
                pooled++
                for (j in i + 1 until m) {
                    if (alive[j] && !(iou(kept, candidates[j]) <= iouThreshold)) alive[j] = false
                }
            }
        }
        heapSort(poolOrder, pooled) { p, q -> pooledBefore(p, q) }
        count = minOf(pooled, capacity)
        for (i in 0 until count) {
            val p = poolOrder[i]
            val row = poolAnchor[p] * columns
            for (c in 0 until 4) boxes[4 * i + c] = out[row + c].toDouble() * size
            scores[i] = poolScore[p]
            labels[i] = poolLabel[p]
            anchors[i] = poolAnchor[p]
        }
        return count
    }

    /** Within one class: the higher score first, then the lower default-box index (numpy's stable argsort). */
    private fun candidateBefore(x: Int, y: Int): Boolean {
        val sx = output[x * columns + Manifest.BOX_COLUMNS + label]
        val sy = output[y * columns + Manifest.BOX_COLUMNS + label]
        return sx > sy || (sx == sy && x < y)
    }

    /** Pooled: the higher score first, then the lower class, then the lower default-box index (np.lexsort's keys). */
    private fun pooledBefore(p: Int, q: Int): Boolean {
        val sp = poolScore[p]
        val sq = poolScore[q]
        if (sp != sq) return sp > sq
        if (poolLabel[p] != poolLabel[q]) return poolLabel[p] < poolLabel[q]
        return poolAnchor[p] < poolAnchor[q]
    }

    /** IoU of two default boxes' corner boxes in pixels, torchvision's formula one double operation at a time. */
    private fun iou(a: Int, b: Int): Double {
        val o = output
        val ra = a * columns
        val rb = b * columns
        val ax1 = o[ra].toDouble() * size
        val ay1 = o[ra + 1].toDouble() * size
        val ax2 = o[ra + 2].toDouble() * size
        val ay2 = o[ra + 3].toDouble() * size
        val bx1 = o[rb].toDouble() * size
        val by1 = o[rb + 1].toDouble() * size
        val bx2 = o[rb + 2].toDouble() * size
        val by2 = o[rb + 3].toDouble() * size
        val w = minOf(ax2, bx2) - maxOf(ax1, bx1)
        val h = minOf(ay2, by2) - maxOf(ay1, by1)
        val intersection = (if (w > 0.0) w else 0.0) * (if (h > 0.0) h else 0.0)
        val union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - intersection
        return if (union > 0.0) intersection / union else 0.0
    }

    /** In-place heapsort of a[0, n) into `before` order (a total order here, so the result is unique); no allocation. */
    private inline fun heapSort(a: IntArray, n: Int, before: (Int, Int) -> Boolean) {
        var start = n / 2
        var end = n
        while (true) {
            if (start > 0) {
                start--
            } else {
                end--
                if (end <= 0) break
                val t = a[0]; a[0] = a[end]; a[end] = t
            }
            var root = start
            while (true) {
                var child = 2 * root + 1
                if (child >= end) break
                if (child + 1 < end && before(a[child], a[child + 1])) child++
                if (!before(a[root], a[child])) break
                val t = a[root]; a[root] = a[child]; a[child] = t
                root = child
            }
        }
    }
}

/**
 * Where a detector's boxes (network input frame, pixels 0 to img_size) lie in the image it saw and on the preview.
 * The image: the resize rule undone exactly as edgekit.detection_metrics.to_image_boxes (resize: scale = img_size /
 * width per axis; letterbox: scale = resized side / side, minus the padding), clipped to the image. The preview: the
 * upright frame's fractions through [PreviewTransform.viewRect]; a front camera's preview is mirrored (the frames
 * are not), so its boxes are flipped left to right there.
 */
class BoxMapping(val imgSize: Int, val resize: String, val width: Int, val height: Int) {
    private val scaleX: Double
    private val scaleY: Double
    private val padLeft: Double
    private val padTop: Double

    init {
        require(width > 0 && height > 0) { "an image of $width x $height px cannot be resized" }
        when (resize) {
            "resize" -> {
                scaleX = imgSize.toDouble() / width
                scaleY = imgSize.toDouble() / height
                padLeft = 0.0
                padTop = 0.0
            }
            "letterbox" -> {
                val g = Geometry.letterbox(height, width, imgSize)
                scaleX = g.width.toDouble() / width
                scaleY = g.height.toDouble() / height
                padLeft = g.left.toDouble()
                padTop = g.top.toDouble()
            }
            else -> throw IllegalArgumentException("a detector's resize rule is resize or letterbox, got $resize")
        }
    }

    /** count boxes (x1, y1, x2, y2 in the network frame) -> image pixels into out (4 per box), clipped to the image. */
    fun toImage(boxes: DoubleArray, count: Int, out: DoubleArray) {
        for (i in 0 until count) {
            for (c in 0 until 4) {
                val x = c % 2 == 0
                val v = (boxes[4 * i + c] - (if (x) padLeft else padTop)) / (if (x) scaleX else scaleY)
                val limit = if (x) width.toDouble() else height.toDouble()
                out[4 * i + c] = if (v < 0.0) 0.0 else if (v > limit) limit else v
            }
        }
    }

    /** See the companion's [toView] (this mapping's image is the frame). */
    fun toView(imageBoxes: DoubleArray, count: Int, transform: PreviewTransform, frontFacing: Boolean, out: DoubleArray) =
        toView(imageBoxes, count, width, height, transform, frontFacing, out)

    companion object {
        /**
         * Boxes in the pixels of a width x height upright camera frame (from [toImage]) -> view pixels (left, top,
         * right, bottom, 4 per box) on a preview shown by `transform`; mirrored left to right for a front camera.
         */
        fun toView(imageBoxes: DoubleArray, count: Int, width: Int, height: Int, transform: PreviewTransform,
                   frontFacing: Boolean, out: DoubleArray) {
            val left = (transform.viewWidth - transform.contentWidth) / 2
            val top = (transform.viewHeight - transform.contentHeight) / 2
            for (i in 0 until count) {
                var x1 = imageBoxes[4 * i] / width
                var x2 = imageBoxes[4 * i + 2] / width
                if (frontFacing) {
                    val m = 1.0 - x2
                    x2 = 1.0 - x1
                    x1 = m
                }
                out[4 * i] = left + x1 * transform.contentWidth
                out[4 * i + 1] = top + imageBoxes[4 * i + 1] / height * transform.contentHeight
                out[4 * i + 2] = left + x2 * transform.contentWidth
                out[4 * i + 3] = top + imageBoxes[4 * i + 3] / height * transform.contentHeight
            }
        }
    }
}
