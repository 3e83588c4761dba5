package dev.edgekit.demo.backend

import ai.onnxruntime.OnnxJavaType
import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtException
import ai.onnxruntime.OrtSession
import dev.edgekit.core.InputTensor
import dev.edgekit.core.Manifest
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.FloatBuffer

/**
 * ONNX Runtime (.onnx): the CPU execution provider with `threads` intra-op threads (inter-op 1: the graph is
 * a chain). Input tensor in the manifest's dtype and layout; int8/uint8 inputs as OnnxJavaType.INT8/UINT8.
 * Compiled in every build, the offline one included (ONNX Runtime's Android AAR).
 */
class OrtBackend(private val manifest: Manifest, modelFile: File, options: BackendOptions) : Backend {
    private val env: OrtEnvironment = OrtEnvironment.getEnvironment()
    private val session: OrtSession
    private val inputName: String
    private val shape: LongArray = LongArray(manifest.inputShape.size) { manifest.inputShape[it].toLong() }

    override val runtime = "onnxruntime"
    override val runtimeVersion: String? = try { env.version } catch (e: Throwable) { null }
    override val delegate: String? = null

    init {
        try {
            val sessionOptions = OrtSession.SessionOptions()
            sessionOptions.setIntraOpNumThreads(options.threads)
            sessionOptions.setInterOpNumThreads(1)
            session = env.createSession(modelFile.absolutePath, sessionOptions)
        } catch (e: OrtException) {
            throw BackendException("ONNX Runtime could not load ${modelFile.name}: ${e.message}", e)
        }
        inputName = session.inputNames.first()
    }

    override fun run(input: InputTensor): FloatArray {
        val tensor = when (input.dtype) {
            "float32" -> OnnxTensor.createTensor(env, FloatBuffer.wrap(requireNotNull(input.floats)), shape)
            "int8", "uint8" -> {
                val bytes = requireNotNull(input.bytes)
                val buffer = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder())
                buffer.put(bytes).rewind()
                val type = if (input.dtype == "int8") OnnxJavaType.INT8 else OnnxJavaType.UINT8
                OnnxTensor.createTensor(env, buffer, shape, type)
            }
            else -> throw BackendException("input dtype '${input.dtype}' is not supported by this backend")
        }
        tensor.use {
            session.run(mapOf(inputName to it)).use { result ->
                val out = result.get(0) as OnnxTensor
                return when (manifest.outputDtype) {
                    "float32" -> {
                        val fb = out.floatBuffer
                        FloatArray(fb.remaining()).also { fb.get(it) }
                    }
                    else -> {
                        val bb = out.byteBuffer
                        logitsFromBytes(manifest, ByteArray(bb.remaining()).also { bb.get(it) })
                    }
                }
            }
        }
    }

    override fun close() {
        session.close()
    }
}
