package dev.edgekit.demo.backend

// NOT COMPILED BY build_offline_apk.sh, AND NOT COMPILED ANYWHERE YET: ExecuTorch's AAR
// (org.pytorch:executorch-android) comes from Maven Central only, which the project's machines cannot reach.
// Gradle (Android Studio) compiles this file; Backends finds it by name. Written against ExecuTorch's Java API
// (extension/android/executorch_android/src/main/java/org/pytorch/executorch: Module.load(path, mode, threads),
// Tensor.allocate*Buffer / fromBlob(buffer, shape), EValue), cited in android_demo/README.md.

import dev.edgekit.core.InputTensor
import dev.edgekit.core.Manifest
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import java.io.File
import java.nio.ByteBuffer
import java.nio.FloatBuffer

/**
 * ExecuTorch (.pte, XNNPACK-delegated by edgekit's export) with `threads` threads. edgekit's .pte files take
 * and return float32 (int8 included: the quantize/dequantize ops are inside the program). The input Tensor is
 * made once over a direct buffer the backend keeps; each run copies the values into it.
 */
class ExecuTorchBackend(private val manifest: Manifest, modelFile: File, options: BackendOptions) : Backend {
    private val module: Module
    private val shape = LongArray(manifest.inputShape.size) { manifest.inputShape[it].toLong() }
    private val count = manifest.inputShape.fold(1) { a, b -> a * b }
    private val floatInput: FloatBuffer? = if (manifest.inputDtype == "float32") Tensor.allocateFloatBuffer(count) else null
    private val byteInput: ByteBuffer? = if (manifest.inputDtype == "float32") null else Tensor.allocateByteBuffer(count)
    private val input: Tensor = when (manifest.inputDtype) {
        "float32" -> Tensor.fromBlob(floatInput!!, shape)
        "int8" -> Tensor.fromBlob(byteInput!!, shape)
        "uint8" -> Tensor.fromBlobUnsigned(byteInput!!, shape)
        else -> throw BackendException("input dtype '${manifest.inputDtype}' is not supported by this backend")
    }

    override val runtime = "executorch"
    // ExecuTorch's Java API reports no version: the one the Gradle build resolves (gradle/libs.versions.toml,
    // checked equal by tests/test_android_gradle.py), so each bench row names the runtime that ran it.
    override val runtimeVersion: String? = "1.5.1"
    override val delegate: String? = "XNNPACK"

    init {
        val loaded = try {
            Module.load(modelFile.absolutePath, Module.LOAD_MODE_MMAP, options.threads)
        } catch (e: RuntimeException) {
            throw BackendException("ExecuTorch could not load ${modelFile.name}: ${e.message}", e)
        }
        try {
            loaded.loadMethod("forward")   // a bad program fails here: the module is destroyed, not leaked
        } catch (e: Exception) {
            try { loaded.destroy() } catch (ignored: Exception) { }
            throw BackendException("ExecuTorch could not load the forward method of ${modelFile.name}: ${e.message}", e)
        }
        module = loaded
    }

    override fun run(input: InputTensor): FloatArray {
        if (input.dtype != manifest.inputDtype || input.size != count) {
            throw BackendException("the input tensor (${input.dtype}, ${input.size} values) is not this model's")
        }
        floatInput?.let { it.rewind(); it.put(requireNotNull(input.floats)); it.rewind() }
        byteInput?.let { it.rewind(); it.put(requireNotNull(input.bytes)); it.rewind() }
        val out = module.forward(EValue.from(this.input))[0].toTensor()
        return when (manifest.outputDtype) {
            "float32" -> out.dataAsFloatArray
            "int8" -> logitsFromBytes(manifest, out.dataAsByteArray)
            "uint8" -> logitsFromBytes(manifest, out.dataAsUnsignedByteArray)
            else -> throw BackendException("output dtype '${manifest.outputDtype}' is not supported by this backend")
        }
    }

    override fun close() {
        module.destroy()
    }
}
