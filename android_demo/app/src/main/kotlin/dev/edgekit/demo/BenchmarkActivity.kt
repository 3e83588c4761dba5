package dev.edgekit.demo

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.os.Process
import android.util.Log
import android.widget.TextView
import dev.edgekit.core.DetectionPostprocessor
import dev.edgekit.core.InputTensor
import dev.edgekit.core.Manifest
import dev.edgekit.core.ManifestException
import dev.edgekit.demo.backend.BackendException
import dev.edgekit.demo.backend.BackendOptions
import dev.edgekit.demo.backend.Backends
import java.io.File
import java.util.Random

/**
 * The app's benchmark mode, started over adb (CONTRACTS.md, "Android app benchmark mode"):
 *
 *     adb shell am start -W -n dev.edgekit.demo/.BenchmarkActivity --es artifact mobilenet_v2-onnx-int8 \
 *         --ei iterations 100 --ei warmup 10 --ei threads 4 --es out onnx-int8-t4.json [--es serial SERIAL]
 *
 * Times the bundled artifact with the app's own backend on a tensor of the manifest's input shape and dtype
 * (seeded random values: preprocessing is not timed), and writes {"schema": "edgekit-bench/1", "rows": [row]}
 * with the fields of edgekit's BenchRow to getExternalFilesDir("bench")/<out>. A detector's row also times its
 * postprocessing (core's DetectionPostprocessor on each timed run's output) apart from the model: post_p50_ms. Then it logs
 * `EDGEKIT_BENCH_DONE <path>` (tag "edgekit") and finishes; on any error `EDGEKIT_BENCH_ERROR <message>`.
 */
class BenchmarkActivity : Activity() {

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val status = TextView(this)
        status.setPadding(32, 32, 32, 32)
        setContentView(status)
        val extras = intent.extras ?: Bundle()
        val artifact = extras.getString("artifact")
        val iterations = extras.getInt("iterations", 50)
        val warmup = extras.getInt("warmup", 5)
        val threads = extras.getInt("threads", 1)
        val out = extras.getString("out") ?: "$artifact-t$threads.json"
        val serial = extras.getString("serial") ?: "unknown"
        status.text = "benchmarking $artifact: $iterations iterations, $threads thread(s)…"
        Thread({
            try {
                if (artifact.isNullOrEmpty()) throw BackendException("missing --es artifact <folder under assets/models>")
                if (iterations < 1 || warmup < 0 || threads < 1) {
                    throw BackendException("iterations must be >= 1, warmup >= 0, threads >= 1")
                }
                if (out.contains('/')) throw BackendException("--es out takes a file name, not a path: $out")
                val row = run(artifact, iterations, warmup, threads, serial)
                val dir = getExternalFilesDir("bench") ?: throw BackendException("no external files folder")
                dir.mkdirs()
                val target = File(dir, out)
                val tmp = File(dir, ".$out.tmp")
                tmp.writeText(BenchRows.document(row))
                if (!tmp.renameTo(target)) throw BackendException("cannot write ${target.path}")
                Log.i(TAG, "EDGEKIT_BENCH_DONE ${target.absolutePath}")
                runOnUiThread { status.text = "done: ${target.absolutePath}" }
            } catch (e: Throwable) {   // native load failures are Errors: the harness must still hear why
                val why = when (e) {
                    is BackendException, is ManifestException, is ModelFileChangedException -> e.message
                    else -> "${e.javaClass.simpleName}: ${e.message}"
                }
                Log.e(TAG, "EDGEKIT_BENCH_ERROR $why")
                runOnUiThread { status.text = "error: $why" }
            }
            runOnUiThread { finish() }
        }, "benchmark").start()
    }

    private fun run(artifact: String, iterations: Int, warmup: Int, threads: Int, serial: String): Map<String, Any?> {
        val names = ModelAssets(this).names()
        if (artifact !in names) {
            throw BackendException("no bundled artifact '$artifact' (bundled: ${names.joinToString().ifEmpty { "none" }})")
        }
        val model = ModelAssets(this).load(artifact)
        val m = model.manifest
        val input = syntheticInput(m)

        val t0 = System.nanoTime()
        // back to back runs: intra-op threads may spin between them (the runtime's best latency); the live view does not
        val backend = Backends.create(m, model.modelFile, BackendOptions(threads, spinning = true))
        val loadMs = (System.nanoTime() - t0) / 1e6
        backend.use { b ->
            val f0 = System.nanoTime()
            val logits = b.run(input)
            val firstMs = (System.nanoTime() - f0) / 1e6
            if (logits.size != m.outputValues) {
                throw BackendException(if (m.isDetector) "the model returns ${logits.size} values, the manifest says ${m.outputValues}"
                    else "the model returns ${logits.size} scores for ${m.labels.size} labels")
            }
            // a detector: its NMS (outside the graph) timed apart after each run, on that run's output
            val post = if (m.isDetector) DetectionPostprocessor(m) else null
            repeat(warmup) { val out = b.run(input); post?.run(out) }
            val rounds = BenchStats.roundSizes(iterations, 3)
            val times = DoubleArray(iterations)
            val postTimes = if (post != null) DoubleArray(iterations) else null
            var kept = 0
            val cpu0 = Process.getElapsedCpuTime()
            val wall0 = System.nanoTime()
            for (i in 0 until iterations) {
                val s = System.nanoTime()
                val out = b.run(input)
                val e = System.nanoTime()
                times[i] = (e - s) / 1e6
                if (post != null) {
                    kept = post.run(out)
                    postTimes!![i] = (System.nanoTime() - e) / 1e6
                }
            }
            val wallMs = (System.nanoTime() - wall0) / 1e6
            val cpuMs = (Process.getElapsedCpuTime() - cpu0).toDouble()
            val extra = linkedMapOf<String, Any?>(
                "abi" to (Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown"),
                "android" to Build.VERSION.RELEASE,
                "sdk" to Build.VERSION.SDK_INT,
                "manufacturer" to Build.MANUFACTURER,
                "asset" to artifact,
                "input" to "seeded random ${m.inputDtype} tensor ${m.inputShape.joinToString("x")}, not preprocessed",
                "cpu_time_source" to "android.os.Process.getElapsedCpuTime (whole process)",
                // the model that ran (checked against the manifest when it was copied out): the host refuses a row
                // whose model differs from the export's manifest (an APK built before the last export)
                "model_sha256" to model.sha256,
                // a fresh process per row (the host starts the activity with am start -S, and checks that the pid
                // changed between rows): load_ms and peak_rss_mb are this row's own
                "pid" to Process.myPid(),
                "spinning" to true,
            )
            if (post != null) {
                extra["postprocess"] = "core DetectionPostprocessor (edgekit.detection_post's NMS) on each timed run's output, " +
                    "timed apart (post_p50_ms); $kept box(es) kept on the last (a random input: not a real image's count)"
            }
            return BenchRows.row(BenchRun(
                model = m.model, format = m.format, precision = m.precision, threads = threads,
                device = "adb:$serial", runtime = b.runtime, runtimeVersion = b.runtimeVersion, delegate = b.delegate,
                deviceName = Build.MODEL, sizeBytes = model.sizeBytes, loadMs = loadMs, firstMs = firstMs,
                warmup = warmup, times = times, rounds = rounds, cpuMs = cpuMs, wallMs = wallMs,
                peakRssMb = peakRssMb(), extra = extra, postTimes = postTimes,
            ))
        }
    }

    /** A tensor of the manifest's shape and dtype, seeded: float in the normalised range, integers uniform. */
    private fun syntheticInput(m: Manifest): InputTensor {
        val count = m.inputShape.fold(1) { a, b -> a * b }
        val random = Random(0)
        return when (m.inputDtype) {
            "float32" -> InputTensor(m.inputShape, "float32", FloatArray(count) { random.nextFloat() * 4f - 2f }, null)
            "int8", "uint8" -> InputTensor(m.inputShape, m.inputDtype, null, ByteArray(count).also { random.nextBytes(it) })
            else -> throw BackendException("input dtype '${m.inputDtype}' is not supported")
        }
    }

    /** VmHWM (peak resident set) of this process, MiB; null where /proc does not say. */
    private fun peakRssMb(): Double? = try {
        File("/proc/self/status").readLines().firstOrNull { it.startsWith("VmHWM:") }
            ?.split(Regex("\\s+"))?.getOrNull(1)?.toDouble()?.div(1024.0)
    } catch (e: Exception) {
        null
    }

    companion object {
        const val TAG = "edgekit"
    }
}
