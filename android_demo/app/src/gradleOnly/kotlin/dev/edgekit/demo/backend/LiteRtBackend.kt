package dev.edgekit.demo.backend

// NOT COMPILED BY build_offline_apk.sh, AND NOT COMPILED ANYWHERE YET: LiteRT's AARs (com.google.ai.edge.litert)
// come from Google's Maven only, which the project's machines cannot reach. Gradle (Android Studio) compiles this
// file; Backends finds it by name. Written against the LiteRT 2.x Kotlin API (CompiledModel, Accelerator,
// TensorBuffer) as read in google-ai-edge/LiteRT's source at tag v2.2.0 (litert/kotlin/src/main/kotlin/com/google/
// ai/edge/litert/Model.kt, TensorBuffer.kt, Common.kt) and as LiteRT 2.3.0's documentation describes it
// (android_demo/README.md cites both). LiteRT 2.x documents its Interpreter as CPU only; the GPU runs through
// CompiledModel with Accelerator.GPU, whose library is the litert-gpu artifact.

import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.LiteRtException
import com.google.ai.edge.litert.TensorBuffer
import dev.edgekit.core.InputTensor
import dev.edgekit.core.Manifest
import java.io.File

/**
 * LiteRT (.tflite) through the CompiledModel API: the CPU accelerator (XNNPACK) with `threads` threads, or the
 * GPU accelerator when asked (GPU only: a model the GPU cannot take fails to load with the reason, rather than
 * running on the CPU while the screen says GPU). Input values in the manifest's dtype and layout; int8 outputs are
 * dequantized with the manifest's scale/zero-point. The 2.x Kotlin TensorBuffer has no uint8 element type, so a
 * uint8-input .tflite is refused with that reason.
 */
class LiteRtBackend(private val manifest: Manifest, modelFile: File, options: BackendOptions) : Backend {
    private val model: CompiledModel
    private val inputBuffers: List<TensorBuffer>
    private val outputBuffers: List<TensorBuffer>

    override val runtime = "litert"
    // The LiteRT Kotlin API reports no version: the one the Gradle build resolves (gradle/libs.versions.toml,
    // checked equal by tests/test_android_gradle.py), so each bench row names the runtime that ran it.
    override val runtimeVersion: String? = "2.3.0"
    override val delegate: String? = if (options.useGpu) "GPU" else "XNNPACK"

    init {
        if (manifest.inputDtype == "uint8" || manifest.outputDtype == "uint8") {
            throw BackendException("LiteRT's Kotlin TensorBuffer has no uint8 type: this backend runs float32 and int8 .tflite files")
        }
        val compileOptions = if (options.useGpu) {
            CompiledModel.Options(Accelerator.GPU)
        } else {
            CompiledModel.Options(Accelerator.CPU).apply { cpuOptions = CompiledModel.CpuOptions(numThreads = options.threads) }
        }
        model = try {
            CompiledModel.create(modelFile.absolutePath, compileOptions)
        } catch (e: LiteRtException) {
            throw BackendException("LiteRT could not compile ${modelFile.name} for the ${if (options.useGpu) "GPU" else "CPU"}: ${e.message}", e)
        }
        try {
            inputBuffers = model.createInputBuffers()
            outputBuffers = model.createOutputBuffers()
        } catch (e: LiteRtException) {
            model.close()
            throw BackendException("LiteRT could not allocate the buffers of ${modelFile.name}: ${e.message}", e)
        }
    }

    override fun run(input: InputTensor): FloatArray {
        when (input.dtype) {
            "float32" -> inputBuffers[0].writeFloat(requireNotNull(input.floats))
            "int8" -> inputBuffers[0].writeInt8(requireNotNull(input.bytes))
            else -> throw BackendException("input dtype '${input.dtype}' is not supported by this backend")
        }
        model.run(inputBuffers, outputBuffers)
        return when (manifest.outputDtype) {
            "float32" -> outputBuffers[0].readFloat()
            "int8" -> logitsFromBytes(manifest, outputBuffers[0].readInt8())
            else -> throw BackendException("output dtype '${manifest.outputDtype}' is not supported by this backend")
        }
    }

    override fun close() {
        inputBuffers.forEach { it.close() }
        outputBuffers.forEach { it.close() }
        model.close()
    }
}
