package dev.edgekit.demo.backend

// NOT COMPILED BY build_offline_apk.sh: ExecuTorch's AAR (org.pytorch:executorch-android) comes from Maven
// Central only, which the project's machines cannot reach. Gradle (Android Studio) compiles this file;
// Backends finds it by name.

import dev.edgekit.core.InputTensor
import dev.edgekit.core.Manifest
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
import java.io.File

/**
 * ExecuTorch (.pte, XNNPACK-delegated by edgekit's export) with `threads` threads. edgekit's .pte files take
 * and return float32 (int8 included: the quantize/dequantize ops are inside the program).
 */
class ExecuTorchBackend(private val manifest: Manifest, modelFile: File, options: BackendOptions) : Backend {
    private val module: Module
    private val shape = LongArray(manifest.inputShape.size) { manifest.inputShape[it].toLong() }

    override val runtime = "executorch"
    override val runtimeVersion: String? = null
    override val delegate: String? = "XNNPACK"

    init {
        module = try {
            Module.load(modelFile.absolutePath, Module.LOAD_MODE_MMAP, options.threads)
        } catch (e: RuntimeException) {
            throw BackendException("ExecuTorch could not load ${modelFile.name}: ${e.message}", e)
        }
        module.loadMethod("forward")
    }

    override fun run(input: InputTensor): FloatArray {
        val tensor = when (input.dtype) {
            "float32" -> Tensor.fromBlob(requireNotNull(input.floats), shape)
            "int8" -> Tensor.fromBlob(requireNotNull(input.bytes), shape)
            "uint8" -> Tensor.fromBlobUnsigned(requireNotNull(input.bytes), shape)
            else -> throw BackendException("input dtype '${input.dtype}' is not supported by this backend")
        }
        val out = module.forward(EValue.from(tensor))[0].toTensor()
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
