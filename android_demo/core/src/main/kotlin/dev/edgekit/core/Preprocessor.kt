package dev.edgekit.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/** A model input: float32 values (floats) or int8/uint8 quantized bytes (bytes), in the manifest's layout. */
class InputTensor(val shape: IntArray, val dtype: String, val floats: FloatArray?, val bytes: ByteArray?) {
    /** Raw little-endian bytes in the tensor's dtype: what a runtime's input buffer holds. */
    fun toLittleEndianBytes(): ByteArray {
        if (bytes != null) return bytes.copyOf()
        val values = floats ?: error("an InputTensor holds floats or bytes")
        val buffer = ByteBuffer.allocate(values.size * 4).order(ByteOrder.LITTLE_ENDIAN)
        buffer.asFloatBuffer().put(values)
        return buffer.array()
    }
}

/**
 * Image -> model input exactly as edgekit's evaluation transform (docs/manifest.md, "Preprocessing, exactly"):
 * v / 255 in float32; centre crop (shorter side to round(size / 0.875), longer side floored, floor offsets) or
 * letterbox (longer side to size, shorter rounded half up, mean padding); PIL's antialiased triangle filter on
 * floats, widths first; (x - mean) / std in float32; NCHW or NHWC; int8/uint8 quantized with round-half-even.
 */
class Preprocessor(val manifest: Manifest) {
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
            val q = Math.rint((planes[i] / quant.scale).toDouble()) + quant.zeroPoint
            out[at(i)] = q.coerceIn(low.toDouble(), high.toDouble()).toInt().toByte()
        }
        return InputTensor(m.inputShape.copyOf(), m.inputDtype, null, out)
    }

    /** The normalised float32 planes R, G, B (size x size each, CHW order) before packing and quantization. */
    fun normalisedPlanes(image: RgbImage): FloatArray {
        val w = image.width
        val h = image.height
        val src = FloatArray(3 * w * h)
        val rgb = image.rgb
        for (c in 0 until 3) {
            val base = c * w * h
            for (i in 0 until w * h) src[base + i] = (rgb[i * 3 + c].toInt() and 0xFF) / 255f
        }
        val out = FloatArray(3 * size * size)
        val n = size * size
        if (manifest.resize == "letterbox") {
            val g = Geometry.letterbox(h, w, size)
            val resized = Resample.resize(src, 3, h, w, g.height, g.width)
            for (c in 0 until 3) {
                val mean = manifest.mean[c]
                java.util.Arrays.fill(out, c * n, (c + 1) * n, mean)
                for (y in 0 until g.height) {
                    System.arraycopy(resized, c * g.height * g.width + y * g.width, out, c * n + (y + g.top) * size + g.left, g.width)
                }
            }
        } else {
            val g = Geometry.centerCrop(h, w, size)
            val resized = Resample.resize(src, 3, h, w, g.height, g.width)
            for (c in 0 until 3) {
                for (y in 0 until size) {
                    System.arraycopy(resized, c * g.height * g.width + (y + g.top) * g.width + g.left, out, c * n + y * size, size)
                }
            }
        }
        for (c in 0 until 3) {
            val mean = manifest.mean[c]
            val std = manifest.std[c]
            for (i in c * n until (c + 1) * n) out[i] = (out[i] - mean) / std
        }
        return out
    }
}

/** Resized height/width and the crop offsets (centre crop) or padding offsets (letterbox), integer rules only. */
data class Geometry(val height: Int, val width: Int, val top: Int, val left: Int) {
    companion object {
        /** round(size / 0.875) = floor((16 * size + 7) / 14): 8 * size / 7 is never a half. */
        fun resizedShorterSide(size: Int): Int = (16 * size + 7) / 14

        fun centerCrop(height: Int, width: Int, size: Int): Geometry {
            val short = resizedShorterSide(size).toLong()
            val (h, w) = if (height <= width) short to short * width / height else short * height / width to short
            return Geometry(h.toInt(), w.toInt(), ((h - size) / 2).toInt(), ((w - size) / 2).toInt())
        }

        fun letterbox(height: Int, width: Int, size: Int): Geometry {
            val (h, w) = if (height >= width) {
                size.toLong() to maxOf(1L, (2L * width * size + height) / (2L * height))
            } else {
                maxOf(1L, (2L * height * size + width) / (2L * width)) to size.toLong()
            }
            return Geometry(h.toInt(), w.toInt(), ((size - h) / 2).toInt(), ((size - w) / 2).toInt())
        }
    }
}

/**
 * PIL's / torchvision's antialiased bilinear (triangle filter) resampling on float32 planes, reproduced with the
 * same float32/double steps as ATen's CPU kernel (_compute_weights_aa), widths first, then heights; a pass whose
 * size does not change is skipped (it would be the identity).
 */
object Resample {
    fun resize(src: FloatArray, channels: Int, inH: Int, inW: Int, outH: Int, outW: Int): FloatArray {
        var data = src
        var w = inW
        if (outW != inW) {
            data = horizontal(data, channels * inH, inW, outW)
            w = outW
        }
        if (outH != inH) {
            // vertical: for each channel, rows of w values; treat each column as a line with stride w
            val out = FloatArray(channels * outH * w)
            val table = weights(inH, outH)
            for (c in 0 until channels) {
                val sBase = c * inH * w
                val dBase = c * outH * w
                for (oy in 0 until outH) {
                    val start = table.start[oy]
                    val count = table.count[oy]
                    val wBase = oy * table.stride
                    for (x in 0 until w) {
                        var acc = data[sBase + start * w + x] * table.w[wBase]
                        for (j in 1 until count) acc += data[sBase + (start + j) * w + x] * table.w[wBase + j]
                        out[dBase + oy * w + x] = acc
                    }
                }
            }
            data = out
        }
        return if (data === src) src.copyOf() else data
    }

    private fun horizontal(src: FloatArray, lines: Int, inW: Int, outW: Int): FloatArray {
        val out = FloatArray(lines * outW)
        val table = weights(inW, outW)
        for (line in 0 until lines) {
            val s = line * inW
            val d = line * outW
            for (ox in 0 until outW) {
                val start = table.start[ox]
                val wBase = ox * table.stride
                var acc = src[s + start] * table.w[wBase]
                for (j in 1 until table.count[ox]) acc += src[s + start + j] * table.w[wBase + j]
                out[d + ox] = acc
            }
        }
        return out
    }

    class Table(val start: IntArray, val count: IntArray, val stride: Int, val w: FloatArray)

    /** Per output index: first input index, number of taps and normalised weights (ATen's float32 arithmetic). */
    fun weights(inSize: Int, outSize: Int): Table {
        val scale: Float = inSize.toFloat() / outSize.toFloat()
        val support: Float = if (scale >= 1f) (1.0 * scale).toFloat() else 1f
        val invscale: Float = if (scale >= 1f) (1.0 / scale).toFloat() else 1f
        val stride = Math.ceil(support.toDouble()).toInt() * 2 + 1
        val start = IntArray(outSize)
        val count = IntArray(outSize)
        val w = FloatArray(outSize * stride)
        for (i in 0 until outSize) {
            val center: Float = (scale * (i + 0.5)).toFloat()
            val xmin = maxOf((center - support + 0.5).toLong(), 0L).toInt()
            val xsize = (minOf((center + support + 0.5).toLong(), inSize.toLong()) - xmin).toInt()
            var total = 0f
            for (j in 0 until xsize) {
                val x: Float = (((j + xmin).toFloat() - center) + 0.5).times(invscale.toDouble()).toFloat()
                val ax = if (x < 0f) -x else x
                val value = if (ax < 1f) (1.0 - ax).toFloat() else 0f
                w[i * stride + j] = value
                total += value
            }
            if (total != 0f) for (j in 0 until xsize) w[i * stride + j] /= total
            start[i] = xmin
            count[i] = xsize
        }
        return Table(start, count, stride, w)
    }
}
