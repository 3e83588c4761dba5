package dev.edgekit.demo

/**
 * The statistics of a bench row, computed as edgekit's host bench computes them (edgekit/bench/host.py):
 * percentiles by linear interpolation between order statistics (numpy's default), sample standard deviation
 * (ddof 1), and the same "wide spread" rule (p90/p50 above 1.5, or round medians more than 1.3x apart).
 * Pure Kotlin, no android.*.
 */
object BenchStats {
    const val WIDE_P90_OVER_P50 = 1.5
    const val WIDE_ROUNDS = 1.3

    fun percentile(sorted: DoubleArray, q: Double): Double {
        require(sorted.isNotEmpty()) { "no samples" }
        val pos = (sorted.size - 1) * q / 100.0
        val lo = Math.floor(pos).toInt()
        val hi = Math.ceil(pos).toInt()
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
    }

    fun mean(values: DoubleArray): Double = values.sum() / values.size

    fun std(values: DoubleArray): Double {
        if (values.size < 2) return 0.0
        val m = mean(values)
        return Math.sqrt(values.sumOf { (it - m) * (it - m) } / (values.size - 1))
    }

    /** Summary of timed iterations (ms) split into rounds; see the class comment. */
    class Summary(times: DoubleArray, roundSizes: List<Int>) {
        private val sorted = times.sortedArray()
        val p50 = percentile(sorted, 50.0)
        val p90 = percentile(sorted, 90.0)
        val p99 = percentile(sorted, 99.0)
        val mean = mean(times)
        val std = std(times)
        val min = sorted.first()
        val roundMedians: List<Double>
        val notes: List<String>

        init {
            var start = 0
            val medians = ArrayList<Double>()
            for (size in roundSizes) {
                if (size == 0) continue
                medians.add(percentile(times.copyOfRange(start, start + size).sortedArray(), 50.0))
                start += size
            }
            roundMedians = medians
            val drift = if (medians.isEmpty()) 1.0 else medians.max() / medians.min()
            val n = ArrayList<String>()
            if (p90 / p50 > WIDE_P90_OVER_P50) n.add(String.format(java.util.Locale.US, "p90/p50 %.2f > %s", p90 / p50, WIDE_P90_OVER_P50))
            if (drift > WIDE_ROUNDS) n.add(String.format(java.util.Locale.US, "round medians differ %.2fx > %sx", drift, WIDE_ROUNDS))
            notes = n
        }
    }

    /** `iterations` split evenly over `rounds` (the first rounds take the remainder), as the host bench does. */
    fun roundSizes(iterations: Int, rounds: Int): List<Int> {
        val r = maxOf(1, minOf(rounds, iterations))
        return List(r) { iterations / r + if (it < iterations % r) 1 else 0 }
    }
}
