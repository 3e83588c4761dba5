package dev.edgekit.demo.backend

import ai.onnxruntime.NodeInfo
import ai.onnxruntime.OnnxJavaType
import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtException
import ai.onnxruntime.OrtSession
import ai.onnxruntime.TensorInfo
import dev.edgekit.core.InputTensor
import dev.edgekit.core.Manifest
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * ONNX Runtime (.onnx): the CPU execution provider with `threads` intra-op threads (inter-op 1: the graph is
 * a chain) and intra-op spinning as [BackendOptions.spinning] says (session.intra_op.allow_spinning, from
 * onnxruntime_session_options_config_keys.h; its default differs between ORT's client and server builds, so it
 * is always set). The input and output tensors are made once over direct buffers the backend keeps: each run
 * copies the tensor's values into the input buffer and ONNX Runtime writes the logits into the pinned output,
 * so a frame allocates no buffer. Compiled in every build (the offline one included). Uses no android.* class:
 * tests/test_android_ort_jvm.py runs this file as it is on the JVM (app/ort_jvm.sh) against the native ONNX Runtime
 * 1.29.0 the APK bundles (linux-x64 build) and compares its logits with Python onnxruntime's.
 */
class OrtBackend(private val manifest: Manifest, modelFile: File, options: BackendOptions) : Backend {
    private val env: OrtEnvironment = OrtEnvironment.getEnvironment()
    private val session: OrtSession
    private val inputName: String
    private val outputName: String
    private val inputBuffer: ByteBuffer
    private val inputTensor: OnnxTensor
    private val outputBuffer: ByteBuffer
    private val outputTensor: OnnxTensor
    private val inputs: Map<String, OnnxTensor>
    private val pinned: Map<String, OnnxTensor>
    private val logits: FloatArray

    override val runtime = "onnxruntime"
    override val runtimeVersion: String? = try { env.version } catch (e: Throwable) { null }
    override val delegate: String? = null

    init {
        val sessionOptions = OrtSession.SessionOptions()
        session = try {
            sessionOptions.setIntraOpNumThreads(options.threads)
            sessionOptions.setInterOpNumThreads(1)
            sessionOptions.addConfigEntry("session.intra_op.allow_spinning", if (options.spinning) "1" else "0")
            env.createSession(modelFile.absolutePath, sessionOptions)
        } catch (e: OrtException) {
            throw BackendException("ONNX Runtime could not load ${modelFile.name}: ${e.message}", e)
        } finally {
            sessionOptions.close()
        }
        try {
            inputName = session.inputNames.first()
            outputName = session.outputNames.first()
            val shape = LongArray(manifest.inputShape.size) { manifest.inputShape[it].toLong() }
            val count = manifest.inputShape.fold(1) { a, b -> a * b }
            val inType = javaType(manifest.inputDtype, "input")
            inputBuffer = ByteBuffer.allocateDirect(count * if (inType == OnnxJavaType.FLOAT) 4 else 1).order(ByteOrder.nativeOrder())
            inputTensor = if (inType == OnnxJavaType.FLOAT) OnnxTensor.createTensor(env, inputBuffer.asFloatBuffer(), shape)
                else OnnxTensor.createTensor(env, inputBuffer, shape, inType)
            val outShape = outputShape(session.outputInfo[outputName])
            val outType = javaType(manifest.outputDtype, "output")
            val outCount = outShape.fold(1L) { a, b -> a * b }.toInt()
            if (outCount != manifest.outputValues) {
                throw BackendException("the model's output ${outShape.toList()} has $outCount values; the manifest says " +
                    if (manifest.isDetector) "${manifest.outputValues} (${manifest.detection!!.numAnchors} boxes x (4 + ${manifest.numClasses}))"
                    else "${manifest.numClasses} labels")
            }
            outputBuffer = ByteBuffer.allocateDirect(outCount * if (outType == OnnxJavaType.FLOAT) 4 else 1).order(ByteOrder.nativeOrder())
            outputTensor = if (outType == OnnxJavaType.FLOAT) OnnxTensor.createTensor(env, outputBuffer.asFloatBuffer(), outShape)
                else OnnxTensor.createTensor(env, outputBuffer, outShape, outType)
            inputs = mapOf(inputName to inputTensor)
            pinned = mapOf(outputName to outputTensor)
            logits = FloatArray(outCount)
        } catch (e: OrtException) {
            session.close()
            throw BackendException("ONNX Runtime could not prepare ${modelFile.name}: ${e.message}", e)
        } catch (e: BackendException) {
            session.close()
            throw e
        }
    }

    private fun javaType(dtype: String, where: String): OnnxJavaType = when (dtype) {
        "float32" -> OnnxJavaType.FLOAT
        "int8" -> OnnxJavaType.INT8
        "uint8" -> OnnxJavaType.UINT8
        else -> throw BackendException("$where dtype '$dtype' is not supported by this backend")
    }

    /** The output's shape with a dynamic batch (-1) as 1 (one image per run). */
    private fun outputShape(info: NodeInfo?): LongArray {
        val tensor = info?.info as? TensorInfo ?: throw BackendException("the model's first output is not a tensor")
        return tensor.shape.map { if (it < 0) 1L else it }.toLongArray()
    }

    /** Logits of one input, in an array this backend reuses (valid until the next run). */
    override fun run(input: InputTensor): FloatArray {
        if (input.dtype != manifest.inputDtype || input.size * (if (input.floats != null) 4 else 1) != inputBuffer.capacity()) {
            throw BackendException("the input tensor (${input.dtype}, ${input.size} values) is not this model's")
        }
        input.writeTo(inputBuffer)
        session.run(inputs, pinned).close()  // the result holds only the pinned output, which the backend keeps
        logitsInto(manifest, outputBuffer, logits)
        return logits
    }

    override fun close() {
        inputTensor.close()
        outputTensor.close()
        session.close()
    }
}
