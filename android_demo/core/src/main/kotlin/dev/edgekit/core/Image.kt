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
    fun toRgb(
        y: ByteBuffer, u: ByteBuffer, v: ByteBuffer, width: Int, height: Int,
        yRowStride: Int, uvRowStride: Int, uvPixelStride: Int,
    ): RgbImage {
        require(width > 0 && height > 0) { "frame size must be positive, got ${width}x$height" }
        require(yRowStride >= width) { "yRowStride $yRowStride < width $width" }
        require(uvPixelStride >= 1 && uvRowStride >= ((width + 1) / 2 - 1) * uvPixelStride + 1) {
            "bad chroma strides: row $uvRowStride, pixel $uvPixelStride for width $width"
        }
        val chromaLast = ((height + 1) / 2 - 1) * uvRowStride + ((width + 1) / 2 - 1) * uvPixelStride
        require(y.remaining() >= (height - 1) * yRowStride + width) { "the Y plane is too small for ${width}x$height" }
        require(u.remaining() > chromaLast && v.remaining() > chromaLast) { "a chroma plane is too small for ${width}x$height" }
        val y0 = y.position()
        val u0 = u.position()
        val v0 = v.position()
        val out = ByteArray(width * height * 3)
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
        return RgbImage(width, height, out)
    }

    private fun clamp(value: Int): Byte = (if (value < 0) 0 else if (value > 255) 255 else value).toByte()
}

/** Clockwise rotation by a multiple of 90 degrees (a camera frame's rotationDegrees makes it upright). */
object Rotation {
    fun rotate(image: RgbImage, degrees: Int): RgbImage {
        val turns = ((degrees % 360) + 360) % 360  // not Math.floorMod: API 24, absent from the offline build's android.jar 23
        require(turns % 90 == 0) { "rotation must be a multiple of 90 degrees, got $degrees" }
        if (turns == 0) return image
        val w = image.width
        val h = image.height
        val outW = if (turns == 180) w else h
        val outH = if (turns == 180) h else w
        val src = image.rgb
        val out = ByteArray(src.size)
        for (y in 0 until outH) {
            for (x in 0 until outW) {
                // the source pixel that lands at (x, y) after turning clockwise
                val sx: Int
                val sy: Int
                when (turns) {
                    90 -> { sx = y; sy = h - 1 - x }
                    180 -> { sx = w - 1 - x; sy = h - 1 - y }
                    else -> { sx = w - 1 - y; sy = x }
                }
                val s = (sy * w + sx) * 3
                val d = (y * outW + x) * 3
                out[d] = src[s]; out[d + 1] = src[s + 1]; out[d + 2] = src[s + 2]
            }
        }
        return RgbImage(outW, outH, out)
    }
}
