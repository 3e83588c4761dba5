package dev.edgekit.core

import java.nio.ByteBuffer

/**
 * The camera frame path with buffers kept between frames: YUV_420_888 planes -> RGB ([Yuv.toRgbInto]) -> upright
 * ([Rotation.rotateInto]) -> the manifest's tensor ([Preprocessor.tensorInto]). The values are exactly those of
 * Yuv.toRgb, Rotation.rotate and Preprocessor.tensor (the contract of docs/manifest.md); only the memory differs:
 * after the first frame of a size nothing is allocated per frame (android_demo/core/bench.sh measures it).
 * [process] returns the same [tensor] every time, overwritten. Not thread-safe: one pipeline per analysis thread.
 */
class FramePipeline(val manifest: Manifest) {
    private val preprocessor = Preprocessor(manifest)

    /** The tensor [process] fills (the same object every frame). */
    val tensor: InputTensor = preprocessor.newTensor()

    private var rgb = ByteArray(0)
    private var upright = ByteArray(0)

    /** The upright frame size of the last [process] (0 before the first). */
    var uprightWidth = 0
        private set
    var uprightHeight = 0
        private set

    fun process(
        y: ByteBuffer, u: ByteBuffer, v: ByteBuffer, width: Int, height: Int,
        yRowStride: Int, uvRowStride: Int, uvPixelStride: Int, rotationDegrees: Int,
    ): InputTensor {
        val turns = Rotation.normalise(rotationDegrees)
        val bytes = width * height * 3
        if (rgb.size < bytes) rgb = ByteArray(bytes)
        Yuv.toRgbInto(y, u, v, width, height, yRowStride, uvRowStride, uvPixelStride, rgb)
        var image = rgb
        uprightWidth = if (turns == 90 || turns == 270) height else width
        uprightHeight = if (turns == 90 || turns == 270) width else height
        if (turns != 0) {
            if (upright.size < bytes) upright = ByteArray(bytes)
            Rotation.rotateInto(rgb, width, height, turns, upright)
            image = upright
        }
        preprocessor.tensorInto(image, uprightWidth, uprightHeight, tensor)
        return tensor
    }

    /** The part of the upright frame the model sees, as fractions of it (see [Preprocessor.modelRegion]). */
    fun modelRegion(uprightWidth: Int, uprightHeight: Int): Region = preprocessor.modelRegion(uprightWidth, uprightHeight)
}
