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
    // one class's candidates in pixels (double) and their areas, computed once per candidate, not per IoU
    private val x1 = DoubleArray(perClass)
    private val y1 = DoubleArray(perClass)
    private val x2 = DoubleArray(perClass)
    private val y2 = DoubleArray(perClass)
    private val area = DoubleArray(perClass)
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
            val m = minOf(found, perClass)
            selectFirst(candidates, found, m, BY_CANDIDATE)
            for (i in 0 until m) {
                alive[i] = true
                val r = candidates[i] * columns
                x1[i] = out[r].toDouble() * size
                y1[i] = out[r + 1].toDouble() * size
                x2[i] = out[r + 2].toDouble() * size
                y2[i] = out[r + 3].toDouble() * size
                area[i] = (x2[i] - x1[i]) * (y2[i] - y1[i])
            }
            for (i in 0 until m) {
                if (!alive[i]) continue
                val kept = candidates[i]
                poolAnchor[pooled] = kept
                poolLabel[pooled] = k
                poolScore[pooled] = out[kept * columns + column]
                poolOrder[pooled] = pooled
                pooled++
                for (j in i + 1 until m) {
                    if (alive[j] && !(iou(i, j) <= iouThreshold)) alive[j] = false
                }
            }
        }
        count = minOf(pooled, capacity)
        selectFirst(poolOrder, pooled, count, BY_POOL)
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

    /** IoU of one class's candidates i and j (corner boxes in pixels): torchvision's formula, one double operation
     *  at a time in edgekit.detection_post.box_iou's order. */
    private fun iou(i: Int, j: Int): Double {
        val w = minOf(x2[i], x2[j]) - maxOf(x1[i], x1[j])
        val h = minOf(y2[i], y2[j]) - maxOf(y1[i], y1[j])
        val intersection = (if (w > 0.0) w else 0.0) * (if (h > 0.0) h else 0.0)
        val union = area[i] + area[j] - intersection
        return if (union > 0.0) intersection / union else 0.0
    }

    private fun before(order: Int, x: Int, y: Int): Boolean =
        if (order == BY_CANDIDATE) candidateBefore(x, y) else pooledBefore(x, y)

    /**
     * The first m of a[0, n) in the given order into a[0, m), in that order (the order is total here, so the result
     * is what a full stable sort would give); the rest of a[m, n) is left in no order. A heap with the first element
     * at its root, m extractions: O(n + m log n), no allocation.
     */
    private fun selectFirst(a: IntArray, n: Int, m: Int, order: Int) {
        if (n <= 0 || m <= 0) return
        var start = n / 2
        while (start > 0) sift(a, --start, n, order)
        var end = n
        while (n - end < m) {
            end--
            val t = a[0]; a[0] = a[end]; a[end] = t  // the first remaining goes to the back: a[n - 1] is the first
            sift(a, 0, end, order)
        }
        // a[end, n) holds the first m, last to first: reversed, then moved to the front
        var lo = end
        var hi = n - 1
        while (lo < hi) {
            val t = a[lo]; a[lo] = a[hi]; a[hi] = t
            lo++; hi--
        }
        if (end > 0) System.arraycopy(a, end, a, 0, m)
    }

    private fun sift(a: IntArray, from: Int, end: Int, order: Int) {
        var root = from
        while (true) {
            var child = 2 * root + 1
            if (child >= end) return
            if (child + 1 < end && before(order, a[child + 1], a[child])) child++
            if (!before(order, a[child], a[root])) return
            val t = a[root]; a[root] = a[child]; a[child] = t
            root = child
        }
    }

    private companion object {
        const val BY_CANDIDATE = 0
        const val BY_POOL = 1
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
