package dev.edgekit.demo

import android.media.Image
import dev.edgekit.core.BoxMapping
import dev.edgekit.core.DetectionPostprocessor
import dev.edgekit.core.FramePipeline
import dev.edgekit.demo.backend.Backend
import dev.edgekit.demo.backend.BackendException

/**
 * What the screen shows of one frame's detections: the boxes in the upright frame's pixels (4 per box), their
 * scores and class names, at most [Detector.MAX_SHOWN] of them, scored at least [Detector.MIN_SHOWN_SCORE].
 */
class DetectionFrame(
    val count: Int, val boxes: DoubleArray, val scores: FloatArray, val names: Array<String>,
    val frameWidth: Int, val frameHeight: Int, val kept: Int,
    val inferenceMs: Double, val preprocessMs: Double, val postprocessMs: Double,
)

/**
 * Camera frame → upright RGB → the manifest's tensor → backend → core's DetectionPostprocessor (edgekit's NMS,
 * tested box for box against Python on the JVM) → the boxes in the upright frame's pixels (core's BoxMapping: the
 * resize rule undone). The frame path and the postprocessing reuse their buffers; what is handed to the screen is a
 * copy of the few boxes it draws. Used from one thread (the analysis thread).
 */
class Detector(override val model: BundledModel, override val backend: Backend) : FrameModel {
    private val manifest = model.manifest
    private val pipeline = FramePipeline(manifest)
    private val post = DetectionPostprocessor(manifest)
    private val imageBoxes = DoubleArray(post.capacity * 4)
    private var mapping: BoxMapping? = null

    fun detect(image: Image, rotationDegrees: Int): DetectionFrame {
        val t0 = System.nanoTime()
        val planes = image.planes
        val tensor = pipeline.process(planes[0].buffer, planes[1].buffer, planes[2].buffer, image.width, image.height,
            planes[0].rowStride, planes[1].rowStride, planes[1].pixelStride, rotationDegrees)
        val t1 = System.nanoTime()
        val output = backend.run(tensor)
        val t2 = System.nanoTime()
        if (output.size != post.outputSize) {
            throw BackendException("the model returns ${output.size} values but ${model.name}'s manifest says " +
                "${post.outputSize} (${manifest.detection!!.numAnchors} boxes x (4 + ${manifest.numClasses}))")
        }
        val kept = post.run(output)
        val w = pipeline.uprightWidth
        val h = pipeline.uprightHeight
        val m = mapping?.takeIf { it.width == w && it.height == h } ?: BoxMapping(manifest.imgSize, manifest.resize, w, h).also { mapping = it }
        m.toImage(post.boxes, kept, imageBoxes)
        val t3 = System.nanoTime()
        var shown = 0
        while (shown < kept && shown < MAX_SHOWN && post.scores[shown] >= MIN_SHOWN_SCORE) shown++
        return DetectionFrame(shown, imageBoxes.copyOf(4 * shown), post.scores.copyOf(shown),
            Array(shown) { manifest.labels[post.labels[it]] }, w, h, kept,
            (t2 - t1) / 1e6, (t1 - t0) / 1e6, (t3 - t2) / 1e6)
    }

    /** A detector sees the whole frame (plain resize or letterbox): nothing is outlined. */
    override fun modelRegion(): dev.edgekit.core.Region? = null

    override fun close() = backend.close()

    companion object {
        /** The screen's own cut (not the manifest's): the manifest's score_threshold is edgekit's for mAP (0.001
         *  keeps up to max_detections boxes); drawing is for boxes a person would call found. */
        const val MIN_SHOWN_SCORE = 0.5f
        const val MAX_SHOWN = 20
    }
}
