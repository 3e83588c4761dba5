package dev.edgekit.core

/** One class of a top-k answer. */
data class Prediction(val index: Int, val label: String, val probability: Float)

object Postprocess {
    /** Quantized output bytes -> real values: scale * (q - zeroPoint), q read as int8 (signed) or uint8. */
    fun dequantize(raw: ByteArray, quant: Quant, signed: Boolean): FloatArray =
        FloatArray(raw.size) { i ->
            val q = if (signed) raw[i].toInt() else raw[i].toInt() and 0xFF
            (q - quant.zeroPoint).toFloat() * quant.scale
        }

    /** Numerically stable softmax (max subtracted, sums in double). */
    fun softmax(logits: FloatArray): FloatArray {
        require(logits.isNotEmpty()) { "softmax of nothing" }
        var max = Float.NEGATIVE_INFINITY
        for (v in logits) if (v > max) max = v
        val exps = DoubleArray(logits.size) { Math.exp((logits[it] - max).toDouble()) }
        val sum = exps.sum()
        return FloatArray(logits.size) { (exps[it] / sum).toFloat() }
    }

    /** The k most probable classes, highest first; ties go to the lower index (a stable order). */
    fun topK(probs: FloatArray, k: Int, labels: List<String>): List<Prediction> {
        require(labels.size == probs.size) { "${probs.size} scores for ${labels.size} labels" }
        // One pass keeping the best k indices in order (insertion into k slots): no boxing, no sort of all the
        // scores (1,000 for ImageNet) on every frame. The order is sortedWith's: higher score first (Float.compare:
        // NaN above everything, as a sort of boxed Floats has it), the lower index first on a tie.
        val n = minOf(k.coerceAtLeast(0), probs.size)
        if (n == 0) return emptyList()
        val best = IntArray(n)
        var filled = 0
        for (i in probs.indices) {
            val p = probs[i]
            if (filled == n && java.lang.Float.compare(p, probs[best[n - 1]]) <= 0) continue
            var j = if (filled < n) filled++ else n - 1
            while (j > 0 && java.lang.Float.compare(p, probs[best[j - 1]]) > 0) {
                best[j] = best[j - 1]
                j--
            }
            best[j] = i
        }
        return List(n) { Prediction(best[it], labels[best[it]], probs[best[it]]) }
    }
}

/** Mean latency over the last `window` measurements (a sliding window, for a steady on-screen figure). */
class LatencySmoother(val window: Int = 30) {
    init {
        require(window > 0) { "window must be positive" }
    }

    private val values = DoubleArray(window)
    private var count = 0
    private var next = 0
    private var sum = 0.0

    fun add(ms: Double) {
        if (count == window) sum -= values[next] else count++
        values[next] = ms
        sum += ms
        next = (next + 1) % window
    }

    /** NaN until the first add. */
    val mean: Double
        get() = if (count == 0) Double.NaN else sum / count

    val size: Int
        get() = count
}
