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
 * Image -> model input bit for bit as edgekit's evaluation transform (docs/manifest.md, "Preprocessing, exactly"):
 * v / 255.0 in double; centre crop (shorter side to round(size / 0.875), longer side floored, floor offsets) or
 * letterbox (longer side to size, shorter rounded half up, mean padding); PIL's antialiased triangle filter in
 * double, widths first, products summed in tap order; (x - mean) / std in double; one rounding to float32; NCHW or
 * NHWC; int8/uint8 quantized as clamp(rint(x / scale) + zero_point) with x / scale a float32 division.
 * The JVM never fuses a multiply and an add, so each double operation rounds exactly as numpy's.
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
            val resized = Resample.resize(src, 3, h, w, g.height, g.width)
            for (c in 0 until 3) {
                java.util.Arrays.fill(planes, c * n, (c + 1) * n, mean[c])  // normalises to exactly 0
                for (y in 0 until g.height) {
                    System.arraycopy(resized, c * g.height * g.width + y * g.width, planes, c * n + (y + g.top) * size + g.left, g.width)
                }
            }
        } else {
            val g = Geometry.centerCrop(h, w, size)
            val resized = Resample.resize(src, 3, h, w, g.height, g.width)
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
 * PIL's antialiased bilinear (triangle filter) resampling on double planes, exactly as edgekit.preprocess
 * (triangle_taps, resample_axis): widths first, then heights; a pass whose size does not change is skipped (it
 * would be the identity); out_i = ((w_0 * s_lo + w_1 * s_lo+1) + w_2 * s_lo+2) + ... in tap order.
 */
object Resample {
    fun resize(src: DoubleArray, channels: Int, inH: Int, inW: Int, outH: Int, outW: Int): DoubleArray {
        var data = src
        var w = inW
        if (outW != inW) {
            data = horizontal(data, channels * inH, inW, outW)
            w = outW
        }
        if (outH != inH) {
            val out = DoubleArray(channels * outH * w)
            val table = weights(inH, outH)
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
        val table = weights(inW, outW)
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

    class Table(val start: IntArray, val count: IntArray, val stride: Int, val w: DoubleArray)

    /**
     * Per output index: first input index, number of taps and normalised weights, in double, one operation at a
     * time: scale = in / out, support = max(scale, 1), center = (i + 0.5) * scale,
     * lo = max(trunc((center - support) + 0.5), 0), hi = min(trunc((center + support) + 0.5), in),
     * w_j = max(0, 1 - |((j - center) + 0.5) / support|), each divided by their sum taken in tap order.
     */
    fun weights(inSize: Int, outSize: Int): Table {
        val scale = inSize.toDouble() / outSize.toDouble()
        val support = if (scale > 1.0) scale else 1.0
        val stride = Math.ceil(support).toInt() * 2 + 1
        val start = IntArray(outSize)
        val count = IntArray(outSize)
        val w = DoubleArray(outSize * stride)
        for (i in 0 until outSize) {
            val center = (i + 0.5) * scale
            val lo = maxOf((center - support + 0.5).toInt(), 0)
            val hi = minOf((center + support + 0.5).toInt(), inSize)
            var total = 0.0
            for (j in 0 until hi - lo) {
                val t = Math.abs(((j + lo).toDouble() - center + 0.5) / support)
                val value = if (1.0 - t > 0.0) 1.0 - t else 0.0
                w[i * stride + j] = value
                total += value
            }
            for (j in 0 until hi - lo) w[i * stride + j] = w[i * stride + j] / total
            start[i] = lo
            count[i] = hi - lo
        }
        return Table(start, count, stride, w)
    }
}
