package dev.edgekit.demo

import java.util.Locale

/**
 * The statistics and the row of the benchmark mode, pure Kotlin (no android.*, so the JVM can check them against
 * edgekit's Python: tests/test_android_apk.py). Computed as edgekit's host bench computes them
 * (edgekit/bench/host.py): percentiles by linear interpolation between order statistics (numpy's default),
 * sample standard deviation (ddof 1), the same "wide spread" rule (p90/p50 above 1.5, or round medians more
 * than 1.3x apart).
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

    /** `iterations` split evenly over `rounds` (the first rounds take the remainder), as the host bench does. */
    fun roundSizes(iterations: Int, rounds: Int): List<Int> {
        val r = maxOf(1, minOf(rounds, iterations))
        return List(r) { iterations / r + if (it < iterations % r) 1 else 0 }
    }

    /** Summary of timed iterations (ms, in run order) split into rounds of `roundSizes`. */
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
            require(roundSizes.sum() == times.size) { "round sizes ${roundSizes.sum()} != ${times.size} times" }
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
            if (p90 / p50 > WIDE_P90_OVER_P50) n.add(String.format(Locale.US, "p90/p50 %.2f > %s", p90 / p50, WIDE_P90_OVER_P50))
            if (drift > WIDE_ROUNDS) n.add(String.format(Locale.US, "round medians differ %.2fx > %sx", drift, WIDE_ROUNDS))
            notes = n
        }
    }
}

/** What one benchmark run measured, beside the timed iterations. */
class BenchRun(
    val model: String, val format: String, val precision: String, val threads: Int, val device: String,
    val runtime: String, val runtimeVersion: String?, val delegate: String?, val deviceName: String,
    val sizeBytes: Long, val loadMs: Double, val firstMs: Double, val warmup: Int,
    val times: DoubleArray, val rounds: List<Int>, val cpuMs: Double, val wallMs: Double, val peakRssMb: Double?,
    val extra: Map<String, Any?>,
    /** A detector's postprocessing (core's DetectionPostprocessor: edgekit's NMS) per timed run, ms; null for a
     *  classifier. Not part of [times]: post_p50_ms is its median. */
    val postTimes: DoubleArray? = null,
)

/** The row: exactly edgekit.bench.rows.BenchRow's fields, in its order (ROW_FIELDS). */
object BenchRows {
    fun row(run: BenchRun): LinkedHashMap<String, Any?> {
        val s = BenchStats.Summary(run.times, run.rounds)
        val extra = LinkedHashMap<String, Any?>(run.extra)
        extra["rounds"] = s.roundMedians.size
        extra["round_medians_ms"] = s.roundMedians.map { Math.round(it * 10000) / 10000.0 }
        return linkedMapOf(
            "model" to run.model, "format" to run.format, "precision" to run.precision, "threads" to run.threads,
            "device" to run.device, "runtime" to run.runtime, "status" to "ok",
            "reason" to if (s.notes.isEmpty()) null else "wide spread: " + s.notes.joinToString("; "),
            "artifact" to "${run.format}-${run.precision}", "runtime_version" to run.runtimeVersion,
            "delegate" to run.delegate, "device_name" to run.deviceName, "size_bytes" to run.sizeBytes,
            "load_ms" to run.loadMs, "first_ms" to run.firstMs, "warmup" to run.warmup, "iterations" to run.times.size,
            "p50_ms" to s.p50, "p90_ms" to s.p90, "p99_ms" to s.p99, "mean_ms" to s.mean, "std_ms" to s.std,
            "min_ms" to s.min, "throughput_ips" to 1000.0 / s.mean, "peak_rss_mb" to run.peakRssMb,
            "cpu_per_wall" to if (run.wallMs > 0) run.cpuMs / run.wallMs else null,
            "speedup" to null,   // no eager PyTorch baseline on the phone
            "wide_spread" to s.notes.isNotEmpty(),
            "top1" to null, "top1_ci" to null, "accuracy_images" to null,
            "post_p50_ms" to run.postTimes?.let { BenchStats.Summary(it, BenchStats.roundSizes(it.size, 3)).p50 },
            "map" to null,   // no labelled images on the phone
            "source" to "android_demo", "extra" to extra,
        )
    }

    /** {"schema": "edgekit-bench/1", "rows": [row]} as JSON text. */
    fun document(row: Map<String, Any?>): String =
        JsonWriter.write(linkedMapOf("schema" to "edgekit-bench/1", "rows" to listOf(row))) + "\n"
}

/** A small JSON writer for the row (maps, lists, strings, numbers, booleans, null); org.json is Android-only. */
object JsonWriter {
    fun write(value: Any?): String = StringBuilder().also { append(it, value) }.toString()

    private fun append(out: StringBuilder, value: Any?) {
        when (value) {
            null -> out.append("null")
            is String -> string(out, value)
            is Boolean -> out.append(value)
            is Double -> out.append(if (value.isFinite()) value.toString() else "null")
            is Float -> append(out, value.toDouble())
            is Number -> out.append(value.toLong())
            is Map<*, *> -> {
                out.append('{')
                value.entries.forEachIndexed { i, e ->
                    if (i > 0) out.append(", ")
                    string(out, e.key.toString())
                    out.append(": ")
                    append(out, e.value)
                }
                out.append('}')
            }
            is Iterable<*> -> {
                out.append('[')
                value.forEachIndexed { i, v ->
                    if (i > 0) out.append(", ")
                    append(out, v)
                }
                out.append(']')
            }
            else -> string(out, value.toString())
        }
    }

    private fun string(out: StringBuilder, s: String) {
        out.append('"')
        for (c in s) {
            when {
                c == '"' -> out.append("\\\"")
                c == '\\' -> out.append("\\\\")
                c == '\n' -> out.append("\\n")
                c == '\r' -> out.append("\\r")
                c == '\t' -> out.append("\\t")
                c < ' ' -> out.append(String.format(Locale.US, "\\u%04x", c.code))
                else -> out.append(c)
            }
        }
        out.append('"')
    }
}
