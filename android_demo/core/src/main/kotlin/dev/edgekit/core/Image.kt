package dev.edgekit.core

import java.nio.ByteBuffer

/** An 8-bit RGB image: interleaved R, G, B, row-major, no padding (rgb.size == width * height * 3). */
class RgbImage(val width: Int, val height: Int, val rgb: ByteArray) {
    init {
        require(width > 0 && height > 0) { "image size must be positive, got ${width}x$height" }
        require(rgb.size == width * height * 3) { "rgb has ${rgb.size} bytes for ${width}x$height (expected ${width * height * 3})" }
    }
}

/**
 * YUV_420_888 (as Android's camera delivers it) -> RGB, full-range BT.601 (JFIF), in exact integer arithmetic
 * (docs/manifest.md, "YUV_420_888 to RGB"): with d = U - 128, e = V - 128,
 *   R = clamp(Y + ((91881 * e + 32768) >> 16)), G = clamp(Y + ((-22554 * d - 46802 * e + 32768) >> 16)),
 *   B = clamp(Y + ((116130 * d + 32768) >> 16)); >> is the arithmetic (floor) shift, clamp to 0..255.
 * Chroma is 4:2:0 without interpolation: pixel (x, y) reads U and V at (x / 2, y / 2), i.e. byte
 * (y / 2) * uvRowStride + (x / 2) * uvPixelStride of its plane (pixel stride 1: planar; 2: interleaved, NV12/NV21).
 * Buffers are read with absolute indices from their current position; their positions are not changed.
 */
object Yuv {
    /** A new RgbImage (allocates width * height * 3 bytes; the camera path uses [toRgbInto] with a reused array). */
    fun toRgb(
        y: ByteBuffer, u: ByteBuffer, v: ByteBuffer, width: Int, height: Int,
        yRowStride: Int, uvRowStride: Int, uvPixelStride: Int,
    ): RgbImage {
        require(width > 0 && height > 0) { "frame size must be positive, got ${width}x$height" }
        val out = ByteArray(width * height * 3)
        toRgbInto(y, u, v, width, height, yRowStride, uvRowStride, uvPixelStride, out)
        return RgbImage(width, height, out)
    }

    /** The same conversion into `out` (at least width * height * 3 bytes); allocates nothing. */
    fun toRgbInto(
        y: ByteBuffer, u: ByteBuffer, v: ByteBuffer, width: Int, height: Int,
        yRowStride: Int, uvRowStride: Int, uvPixelStride: Int, out: ByteArray,
    ) {
        require(width > 0 && height > 0) { "frame size must be positive, got ${width}x$height" }
        require(yRowStride >= width) { "yRowStride $yRowStride < width $width" }
        require(uvPixelStride >= 1 && uvRowStride >= ((width + 1) / 2 - 1) * uvPixelStride + 1) {
            "bad chroma strides: row $uvRowStride, pixel $uvPixelStride for width $width"
        }
        val chromaLast = ((height + 1) / 2 - 1) * uvRowStride + ((width + 1) / 2 - 1) * uvPixelStride
        require(y.remaining() >= (height - 1) * yRowStride + width) { "the Y plane is too small for ${width}x$height" }
        require(u.remaining() > chromaLast && v.remaining() > chromaLast) { "a chroma plane is too small for ${width}x$height" }
        require(out.size >= width * height * 3) { "out has ${out.size} bytes for ${width}x$height" }
        val y0 = y.position()
        val u0 = u.position()
        val v0 = v.position()
        var o = 0
        for (row in 0 until height) {
            val yRow = y0 + row * yRowStride
            val cRow = (row shr 1) * uvRowStride
            for (col in 0 until width) {
                val luma = y.get(yRow + col).toInt() and 0xFF
                val c = cRow + (col shr 1) * uvPixelStride
                val d = (u.get(u0 + c).toInt() and 0xFF) - 128
                val e = (v.get(v0 + c).toInt() and 0xFF) - 128
                out[o++] = clamp(luma + ((91881 * e + 32768) shr 16))
                out[o++] = clamp(luma + ((-22554 * d - 46802 * e + 32768) shr 16))
                out[o++] = clamp(luma + ((116130 * d + 32768) shr 16))
            }
        }
    }

    private fun clamp(value: Int): Byte = (if (value < 0) 0 else if (value > 255) 255 else value).toByte()
}

/** Clockwise rotation by a multiple of 90 degrees (a camera frame's rotationDegrees makes it upright). */
object Rotation {
    /** degrees as 0, 90, 180 or 270; IllegalArgumentException when it is not a multiple of 90. */
    fun normalise(degrees: Int): Int {
        val turns = ((degrees % 360) + 360) % 360  // not Math.floorMod: API 24, absent from the offline build's android.jar 23
        require(turns % 90 == 0) { "rotation must be a multiple of 90 degrees, got $degrees" }
        return turns
    }

    /** The rotated image, new (the image itself when degrees is a multiple of 360). */
    fun rotate(image: RgbImage, degrees: Int): RgbImage {
        val turns = normalise(degrees)
        if (turns == 0) return image
        val out = ByteArray(image.rgb.size)
        rotateInto(image.rgb, image.width, image.height, turns, out)
        return if (turns == 180) RgbImage(image.width, image.height, out) else RgbImage(image.height, image.width, out)
    }

    /**
     * `src` (width x height, RGB) turned clockwise into `dst` (at least width * height * 3 bytes, a different
     * array): height x width for 90 and 270, width x height for 0 and 180. Allocates nothing.
     */
    fun rotateInto(src: ByteArray, width: Int, height: Int, degrees: Int, dst: ByteArray) {
        val turns = normalise(degrees)
        val w = width
        val h = height
        require(w > 0 && h > 0 && src.size >= w * h * 3 && dst.size >= w * h * 3) { "bad sizes for ${w}x$h" }
        require(src !== dst) { "rotateInto cannot turn an array in place" }
        if (turns == 0) {
            System.arraycopy(src, 0, dst, 0, w * h * 3)
            return
        }
        val outW = if (turns == 180) w else h
        val outH = if (turns == 180) h else w
        var d = 0
        for (y in 0 until outH) {
            // the source pixel that lands at (x, y) after turning clockwise, and its step as x advances
            val s0: Int
            val step: Int
            when (turns) {
                90 -> { s0 = ((h - 1) * w + y) * 3; step = -w * 3 }          // (sx, sy) = (y, h - 1 - x)
                180 -> { s0 = ((h - 1 - y) * w + w - 1) * 3; step = -3 }     // (w - 1 - x, h - 1 - y)
                else -> { s0 = (w - 1 - y) * 3; step = w * 3 }                // (w - 1 - y, x)
            }
            var s = s0
            for (x in 0 until outW) {
                dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                d += 3
                s += step
            }
        }
    }
}
