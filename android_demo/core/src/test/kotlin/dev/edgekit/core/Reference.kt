package dev.edgekit.core

import java.nio.ByteBuffer

// The frame path as it was before the buffers were reused (android_demo at bb4822d), kept verbatim as the
// reference that FramePipeline / Preprocessor.tensorInto must equal bit for bit (FramePathTest) and as the
// "before" of android_demo/core/bench.sh. It allocates a new image, a DoubleArray copy and a tensor per frame.

object ReferenceYuv {
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
object ReferenceRotation {
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

class ReferencePreprocessor(val manifest: Manifest) {
    private val size = manifest.imgSize

    fun tensor(image: RgbImage): InputTensor {
        val planes = normalisedPlanes(image)
        val n = size * size
        val m = manifest
        val nhwc = m.layout == "NHWC"
        fun at(i: Int): Int = if (nhwc) (i % n) * 3 + i / n else i  // planar index -> layout index
        if (m.inputDtype == "float32") {
            val out = FloatArray(3 * n)
            for (i in 0 until 3 * n) out[at(i)] = planes[i]
            return InputTensor(m.inputShape.copyOf(), m.inputDtype, out, null)
        }
        val quant = m.inputQuant ?: throw ManifestException("${m.inputDtype} input without quantization")
        val (low, high) = if (m.inputDtype == "int8") -128 to 127 else 0 to 255
        val out = ByteArray(3 * n)
        for (i in 0 until 3 * n) {
            val q = Math.rint((planes[i] / quant.scale).toDouble()) + quant.zeroPoint  // float32 division, then rint
            out[at(i)] = q.coerceIn(low.toDouble(), high.toDouble()).toInt().toByte()
        }
        return InputTensor(m.inputShape.copyOf(), m.inputDtype, null, out)
    }

    /** The normalised float32 planes R, G, B (size x size each, CHW order) before packing and quantization. */
    fun normalisedPlanes(image: RgbImage): FloatArray {
        val w = image.width
        val h = image.height
        val src = DoubleArray(3 * w * h)
        val rgb = image.rgb
        for (c in 0 until 3) {
            val base = c * w * h
            for (i in 0 until w * h) src[base + i] = (rgb[i * 3 + c].toInt() and 0xFF) / 255.0
        }
        val planes = DoubleArray(3 * size * size)
        val n = size * size
        val mean = manifest.meanDouble
        val std = manifest.stdDouble
        if (manifest.resize == "letterbox") {
            val g = Geometry.letterbox(h, w, size)
            val resized = ReferenceResample.resize(src, 3, h, w, g.height, g.width)
            for (c in 0 until 3) {
                java.util.Arrays.fill(planes, c * n, (c + 1) * n, mean[c])  // normalises to exactly 0
                for (y in 0 until g.height) {
                    System.arraycopy(resized, c * g.height * g.width + y * g.width, planes, c * n + (y + g.top) * size + g.left, g.width)
                }
            }
        } else {
            val g = Geometry.centerCrop(h, w, size)
            val resized = ReferenceResample.resize(src, 3, h, w, g.height, g.width)
            for (c in 0 until 3) {
                for (y in 0 until size) {
                    System.arraycopy(resized, c * g.height * g.width + (y + g.top) * g.width + g.left, planes, c * n + y * size, size)
                }
            }
        }
        val out = FloatArray(3 * n)
        for (c in 0 until 3) {
            for (i in c * n until (c + 1) * n) out[i] = ((planes[i] - mean[c]) / std[c]).toFloat()
        }
        return out
    }
}

object ReferenceResample {
    fun resize(src: DoubleArray, channels: Int, inH: Int, inW: Int, outH: Int, outW: Int): DoubleArray {
        var data = src
        var w = inW
        if (outW != inW) {
            data = horizontal(data, channels * inH, inW, outW)
            w = outW
        }
        if (outH != inH) {
            val out = DoubleArray(channels * outH * w)
            val table = Resample.weights(inH, outH)
            for (c in 0 until channels) {
                val sBase = c * inH * w
                val dBase = c * outH * w
                for (oy in 0 until outH) {
                    val start = table.start[oy]
                    val count = table.count[oy]
                    val wBase = oy * table.stride
                    for (x in 0 until w) {
                        var acc = table.w[wBase] * data[sBase + start * w + x]
                        for (j in 1 until count) acc += table.w[wBase + j] * data[sBase + (start + j) * w + x]
                        out[dBase + oy * w + x] = acc
                    }
                }
            }
            data = out
        }
        return if (data === src) src.copyOf() else data
    }

    private fun horizontal(src: DoubleArray, lines: Int, inW: Int, outW: Int): DoubleArray {
        val out = DoubleArray(lines * outW)
        val table = Resample.weights(inW, outW)
        for (line in 0 until lines) {
            val s = line * inW
            val d = line * outW
            for (ox in 0 until outW) {
                val start = table.start[ox]
                val wBase = ox * table.stride
                var acc = table.w[wBase] * src[s + start]
                for (j in 1 until table.count[ox]) acc += table.w[wBase + j] * src[s + start + j]
                out[d + ox] = acc
            }
        }
        return out
    }
}
