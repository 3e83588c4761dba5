package dev.edgekit.demo.backend

// NOT COMPILED BY build_offline_apk.sh: LiteRT's AARs (com.google.ai.edge.litert) come from Google's Maven only,
// which the project's machines cannot reach. Gradle (Android Studio) compiles this file; Backends finds it by name.

import dev.edgekit.core.InputTensor
import dev.edgekit.core.Manifest
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.GpuDelegate
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * LiteRT (.tflite) through the Interpreter API: XNNPACK on the CPU with `threads` threads, or the GPU delegate
 * when asked. Input bytes in the manifest's dtype and layout (litert-torch keeps the PyTorch NCHW layout unless
 * the manifest says NHWC); int8 outputs are dequantized with the manifest's scale/zero-point.
 */
class LiteRtBackend(private val manifest: Manifest, modelFile: File, options: BackendOptions) : Backend {
    private val gpu: GpuDelegate? = if (options.useGpu) GpuDelegate() else null
    private val interpreter: Interpreter
    private val output: ByteBuffer

    override val runtime = "litert"
    override val runtimeVersion: String? = null
    override val delegate: String? = if (options.useGpu) "GPU" else "XNNPACK"

    init {
        val opts = Interpreter.Options().setNumThreads(options.threads).setUseXNNPACK(!options.useGpu)
        gpu?.let { opts.addDelegate(it) }
        interpreter = try {
            Interpreter(modelFile, opts)
        } catch (e: IllegalArgumentException) {
            gpu?.close()
            throw BackendException("LiteRT could not load ${modelFile.name}: ${e.message}", e)
        }
        val expected = manifest.inputShape.toList()
        val actual = interpreter.getInputTensor(0).shape().toList()
        if (actual != expected) {
            close()
            throw BackendException("the .tflite input shape $actual differs from the manifest's $expected")
        }
        output = ByteBuffer.allocateDirect(interpreter.getOutputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
    }

    override fun run(input: InputTensor): FloatArray {
        val bytes = input.toLittleEndianBytes()
        val inBuffer = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder())
        inBuffer.put(bytes).rewind()
        output.rewind()
        interpreter.run(inBuffer, output)
        output.rewind()
        val raw = ByteArray(output.remaining()).also { output.get(it) }
        return logitsFromBytes(manifest, raw)
    }

    override fun close() {
        interpreter.close()
        gpu?.close()
    }
}
