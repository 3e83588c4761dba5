package dev.edgekit.demo

import android.media.Image
import dev.edgekit.core.FramePipeline
import dev.edgekit.core.Postprocess
import dev.edgekit.core.Prediction
import dev.edgekit.core.Region
import dev.edgekit.demo.backend.Backend
import dev.edgekit.demo.backend.BackendException

/** A loaded model on the analysis thread: a [Classifier] or a [Detector], as the manifest's task says. */
interface FrameModel : AutoCloseable {
    val model: BundledModel
    val backend: Backend

    /** The part of the last upright frame the model saw (fractions) to outline, or null. */
    fun modelRegion(): Region?

    override fun close()
}

/** One frame's result: top-k, and how long the model itself took (preprocessing excluded). */
class FrameResult(val top: List<Prediction>, val inferenceMs: Double, val preprocessMs: Double)

/**
 * Camera frame → upright RGB → the manifest's tensor → backend → softmax → top-k. Every step but the backend
 * is core's (the same arithmetic as edgekit's Python, tested on the JVM); the frame path reuses its buffers
 * (FramePipeline), so a frame allocates no image-sized array. Used from one thread (the analysis thread).
 */
class Classifier(override val model: BundledModel, override val backend: Backend) : FrameModel {
    private val pipeline = FramePipeline(model.manifest)
    private val labels = model.manifest.labels

    fun classify(image: Image, rotationDegrees: Int, k: Int = 3): FrameResult {
        val t0 = System.nanoTime()
        // YUV_420_888: the Y plane's pixel stride is 1; U and V share row and pixel strides (Image.Plane docs)
        val planes = image.planes
        val tensor = pipeline.process(planes[0].buffer, planes[1].buffer, planes[2].buffer, image.width, image.height,
            planes[0].rowStride, planes[1].rowStride, planes[1].pixelStride, rotationDegrees)
        val t1 = System.nanoTime()
        val logits = backend.run(tensor)
        val t2 = System.nanoTime()
        if (logits.size != labels.size) {
            throw BackendException("the model returns ${logits.size} scores but ${model.name} has ${labels.size} " +
                "labels: labels.txt does not match this artifact")
        }
        val top = Postprocess.topK(Postprocess.softmax(logits), k, labels)
        return FrameResult(top, (t2 - t1) / 1e6, (t1 - t0) / 1e6)
    }

    /** The part of the last upright frame the model saw (fractions), or null before the first frame. */
    override fun modelRegion(): Region? =
        if (pipeline.uprightWidth == 0) null else pipeline.modelRegion(pipeline.uprightWidth, pipeline.uprightHeight)

    override fun close() = backend.close()
}
