package dev.edgekit.demo.backend

import dev.edgekit.core.InputTensor
import dev.edgekit.core.Manifest
import dev.edgekit.core.Postprocess
import java.io.Closeable
import java.io.File

/**
 * What the user chose in settings (or the benchmark's intent extras). useGpu is read by LiteRT only. spinning:
 * whether idle intra-op threads busy-wait for the next piece of work (ONNX Runtime's
 * session.intra_op.allow_spinning): off in the live view, where a frame arrives every ~33 ms and spinning
 * burns the battery between frames; on in the benchmark, which runs back to back and measures the runtime's
 * best latency (ONNX Runtime's own default).
 */
data class BackendOptions(val threads: Int, val useGpu: Boolean = false, val spinning: Boolean = false)

/** A backend that cannot run this artifact here: shown on screen (or logged by the benchmark), never a crash. */
class BackendException(message: String, cause: Throwable? = null) : Exception(message, cause)

/**
 * One runtime behind one small interface: load an artifact, run one input tensor (already laid out, typed and
 * quantized as the manifest says), return the logits as floats (integer outputs dequantized with the manifest's
 * output scale/zero-point). Not thread-safe: one caller thread per backend.
 */
interface Backend : Closeable {
    /** e.g. "onnxruntime". */
    val runtime: String

    /** The runtime's version where it reports one. */
    val runtimeVersion: String?

    /** e.g. "XNNPACK", "GPU"; null when the runtime's default CPU path runs. */
    val delegate: String?

    /** The logits of one input. The array may be reused by the next run: read it before running again. */
    fun run(input: InputTensor): FloatArray
}

/**
 * Chooses the backend from the manifest's `format`. OrtBackend is compiled in every build; LiteRtBackend and
 * ExecuTorchBackend (src/gradleOnly/kotlin) need AARs that only Gradle can fetch, so they are looked up by name:
 * an APK built offline by build_offline_apk.sh has only ONNX Runtime and says so instead of failing to link.
 */
object Backends {
    private val gradleOnly = mapOf(
        "tflite" to ("dev.edgekit.demo.backend.LiteRtBackend" to "LiteRT"),
        "executorch" to ("dev.edgekit.demo.backend.ExecuTorchBackend" to "ExecuTorch"),
    )

    private val refused = mapOf(
        "coreml" to "Core ML runs only on Apple platforms",
        "torchscript" to "TorchScript needs PyTorch Mobile, which is deprecated in favour of ExecuTorch (.pte)",
    )

    fun create(manifest: Manifest, modelFile: File, options: BackendOptions): Backend {
        refused[manifest.format]?.let { throw BackendException("cannot run ${manifest.format}: $it") }
        if (manifest.format == "onnx") return OrtBackend(manifest, modelFile, options)
        val (className, name) = gradleOnly[manifest.format]
            ?: throw BackendException("unknown format '${manifest.format}' (this app runs onnx, tflite and executorch)")
        val cls = try {
            Class.forName(className)
        } catch (e: ClassNotFoundException) {
            throw BackendException("this APK has no $name backend: it was built offline with ONNX Runtime only; " +
                "build the app with Gradle (Android Studio) to run ${manifest.format}", e)
        }
        val ctor = cls.getConstructor(Manifest::class.java, File::class.java, BackendOptions::class.java)
        return try {
            ctor.newInstance(manifest, modelFile, options) as Backend
        } catch (e: java.lang.reflect.InvocationTargetException) {
            val cause = e.targetException
            if (cause is BackendException) throw cause
            throw BackendException("$name could not load ${modelFile.name}: ${cause.message ?: cause.javaClass.simpleName}", cause)
        }
    }
}

/** Output bytes → float logits, as the manifest's output dtype says (shared by the backends). */
internal fun logitsFromBytes(manifest: Manifest, raw: ByteArray): FloatArray = when (manifest.outputDtype) {
    "float32" -> {
        val buffer = java.nio.ByteBuffer.wrap(raw).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
        FloatArray(buffer.remaining()).also { buffer.get(it) }
    }
    "int8", "uint8" -> {
        val quant = manifest.outputQuant
            ?: throw BackendException("the manifest's ${manifest.outputDtype} output has no quantization scale/zero-point")
        Postprocess.dequantize(raw, quant, signed = manifest.outputDtype == "int8")
    }
    else -> throw BackendException("output dtype '${manifest.outputDtype}' is not supported (float32, int8, uint8)")
}

/**
 * Output in `buffer` (from position 0, the buffer's byte order) → `out`, as the manifest's output dtype says:
 * float32 copied, int8/uint8 dequantized with the manifest's scale/zero-point. Allocates nothing.
 */
internal fun logitsInto(manifest: Manifest, buffer: java.nio.ByteBuffer, out: FloatArray) {
    buffer.rewind()
    when (manifest.outputDtype) {
        "float32" -> buffer.asFloatBuffer().get(out)
        "int8", "uint8" -> {
            val q = manifest.outputQuant
                ?: throw BackendException("the manifest's ${manifest.outputDtype} output has no quantization scale/zero-point")
            val signed = manifest.outputDtype == "int8"
            for (i in out.indices) {
                val b = buffer.get(i).toInt()
                out[i] = ((if (signed) b else b and 0xFF) - q.zeroPoint).toFloat() * q.scale
            }
        }
        else -> throw BackendException("output dtype '${manifest.outputDtype}' is not supported (float32, int8, uint8)")
    }
}
