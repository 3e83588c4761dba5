package dev.edgekit.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * A model input: float32 values (floats) or int8/uint8 quantized bytes (bytes), in the manifest's layout.
 * The camera path reuses one InputTensor per model ([Preprocessor.tensorInto] overwrites its array each frame):
 * a caller that keeps values across frames copies them.
 */
class InputTensor(val shape: IntArray, val dtype: String, val floats: FloatArray?, val bytes: ByteArray?) {
    /** Number of values (= bytes for int8/uint8, 4 bytes each for float32). */
    val size: Int get() = floats?.size ?: bytes!!.size

    /** Raw little-endian bytes in the tensor's dtype: what a runtime's input buffer holds (a new array). */
    fun toLittleEndianBytes(): ByteArray {
        if (bytes != null) return bytes.copyOf()
        val values = floats ?: error("an InputTensor holds floats or bytes")
        val buffer = ByteBuffer.allocate(values.size * 4).order(ByteOrder.LITTLE_ENDIAN)
        buffer.asFloatBuffer().put(values)
        return buffer.array()
    }

    /**
     * The values into `target` from its position 0 in its own byte order (a runtime's direct buffer in native
     * order): size * 4 bytes (float32) or size bytes (int8/uint8). Allocates no array; leaves the position at 0.
     */
    fun writeTo(target: ByteBuffer) {
        target.clear()
        if (floats != null) target.asFloatBuffer().put(floats) else target.put(bytes!!)
        target.rewind()
    }
}

/**
 * Image -> model input bit for bit as edgekit's evaluation transform (docs/manifest.md, "Preprocessing, exactly"):
 * v / 255.0 in double; centre crop (shorter side to round(size / 0.875), longer side floored, floor offsets),
 * letterbox (longer side to size, shorter rounded half up, mean padding) or a detector's plain resize (both sides to
 * size, the aspect not kept); PIL's antialiased triangle filter in
 * double, widths first, products summed in tap order; (x - mean) / std in double; one rounding to float32; NCHW or
 * NHWC; int8/uint8 quantized as clamp(rint(x / scale) + zero_point) with x / scale a float32 division.
 * The JVM never fuses a multiply and an add, so each double operation rounds exactly as numpy's.
 *
 * Only the resized pixels the crop keeps are computed (each output value depends on its own filter taps only, so
 * the values are those of resizing the whole image and cropping), straight from the 8-bit pixels through a
 * 256-entry table of v / 255.0, into buffers kept between calls: after the first frame of a size, [tensorInto]
 * allocates nothing. Not thread-safe: one Preprocessor per thread.
 */
class Preprocessor(val manifest: Manifest) {
    private val size = manifest.imgSize
    private val n = size * size
    private val nhwc = manifest.layout == "NHWC"
    private val mean = manifest.meanDouble
    private val std = manifest.stdDouble
    private val quant: Quant? = if (manifest.inputDtype == "float32") null
        else manifest.inputQuant ?: throw ManifestException("${manifest.inputDtype} input without quantization")
    private val low = if (manifest.inputDtype == "int8") -128.0 else 0.0
    private val high = if (manifest.inputDtype == "int8") 127.0 else 255.0

    // Per input size (recomputed only when the frame size changes).
    private var inW = -1
    private var inH = -1
    private var plan: Plan? = null
    private var horizontal = DoubleArray(0)

    /** What to compute for one input size: the resized image's window [rowFrom, +rows) x [colFrom, +cols) is written
     *  at (destTop, destLeft) of the size x size output; input rows [inRowLo, inRowHi) feed it. */
    private class Plan(
        val g: Geometry, val hTable: Resample.Table?, val vTable: Resample.Table?,
        val rowFrom: Int, val rows: Int, val colFrom: Int, val cols: Int, val destTop: Int, val destLeft: Int,
        val inRowLo: Int, val inRowHi: Int,
    )

    /** A new tensor of the manifest's shape and dtype (zeros), for [tensorInto]. */
    fun newTensor(): InputTensor =
        if (quant == null) InputTensor(manifest.inputShape.copyOf(), manifest.inputDtype, FloatArray(3 * n), null)
        else InputTensor(manifest.inputShape.copyOf(), manifest.inputDtype, null, ByteArray(3 * n))

    /** A new tensor for `image`. */
    fun tensor(image: RgbImage): InputTensor = newTensor().also { tensorInto(image.rgb, image.width, image.height, it) }

    /**
     * `rgb` (width x height, interleaved RGB) -> `out` (from [newTensor]), overwritten in place. Allocates nothing
     * once a frame of this size has been seen.
     */
    fun tensorInto(rgb: ByteArray, width: Int, height: Int, out: InputTensor) {
        require(width > 0 && height > 0 && rgb.size >= width * height * 3) { "bad image: ${rgb.size} bytes for ${width}x$height" }
        require(out.dtype == manifest.inputDtype && out.size == 3 * n) { "the tensor is not this manifest's" }
        val p = planFor(width, height)
        val floats = out.floats
        val bytes = out.bytes
        if (manifest.resize == "letterbox") {
            for (c in 0 until 3) {
                val pad = ((mean[c] - mean[c]) / std[c]).toFloat()  // the mean padding normalises to exactly 0
                for (i in 0 until n) put(floats, bytes, c, i, pad)
            }
        }
        // 1. widths: input rows [inRowLo, inRowHi), the window's columns, per channel (straight from the bytes)
        val cols = p.cols
        val hb = horizontal
        val hTable = p.hTable
        for (c in 0 until 3) {
            for (iy in p.inRowLo until p.inRowHi) {
                val srcRow = iy * width * 3 + c
                val d = (c * height + iy) * cols
                if (hTable == null) {
                    for (x in 0 until cols) hb[d + x] = UNIT[rgb[srcRow + (p.colFrom + x) * 3].toInt() and 0xFF]
                } else {
                    val tw = hTable.w
                    for (x in 0 until cols) {
                        val ox = p.colFrom + x
                        val start = hTable.start[ox]
                        val wBase = ox * hTable.stride
                        var s = srcRow + start * 3
                        var acc = tw[wBase] * UNIT[rgb[s].toInt() and 0xFF]
                        for (j in 1 until hTable.count[ox]) {
                            s += 3
                            acc += tw[wBase + j] * UNIT[rgb[s].toInt() and 0xFF]
                        }
                        hb[d + x] = acc
                    }
                }
            }
        }
        // 2. heights: the window's rows, then (x - mean) / std, one rounding to float32, layout and quantization
        val vTable = p.vTable
        for (c in 0 until 3) {
            val m = mean[c]
            val sd = std[c]
            val base = c * height * cols
            for (r in 0 until p.rows) {
                val oy = p.rowFrom + r
                val destRow = (r + p.destTop) * size + p.destLeft
                if (vTable == null) {
                    val s = base + oy * cols
                    for (x in 0 until cols) put(floats, bytes, c, destRow + x, ((hb[s + x] - m) / sd).toFloat())
                } else {
                    val tw = vTable.w
                    val start = vTable.start[oy]
                    val count = vTable.count[oy]
                    val wBase = oy * vTable.stride
                    for (x in 0 until cols) {
                        var s = base + start * cols + x
                        var acc = tw[wBase] * hb[s]
                        for (j in 1 until count) {
                            s += cols
                            acc += tw[wBase + j] * hb[s]
                        }
                        put(floats, bytes, c, destRow + x, ((acc - m) / sd).toFloat())
                    }
                }
            }
        }
    }

    /** Value of channel c at pixel p (row-major in the size x size output) into the layout and dtype. */
    private fun put(floats: FloatArray?, bytes: ByteArray?, c: Int, pixel: Int, value: Float) {
        val at = if (nhwc) pixel * 3 + c else c * n + pixel
        if (floats != null) {
            floats[at] = value
        } else {
            val q = quant!!
            val v = Math.rint((value / q.scale).toDouble()) + q.zeroPoint  // float32 division, then rint
            bytes!![at] = (if (v < low) low else if (v > high) high else v).toInt().toByte()
        }
    }

    private fun planFor(width: Int, height: Int): Plan {
        val cached = plan
        if (cached != null && width == inW && height == inH) return cached
        val letterbox = manifest.resize == "letterbox"
        val g = when (manifest.resize) {
            "letterbox" -> Geometry.letterbox(height, width, size)
            "resize" -> Geometry(size, size, 0, 0)  // a detector's plain resize: both sides to size, no crop, no padding
            else -> Geometry.centerCrop(height, width, size)
        }
        val hTable = if (g.width != width) Resample.weights(width, g.width) else null
        val vTable = if (g.height != height) Resample.weights(height, g.height) else null
        val rowFrom = if (letterbox) 0 else g.top
        val rows = if (letterbox) g.height else size
        val colFrom = if (letterbox) 0 else g.left
        val cols = if (letterbox) g.width else size
        var lo = rowFrom
        var hi = rowFrom + rows
        if (vTable != null) {
            lo = height
            hi = 0
            for (oy in rowFrom until rowFrom + rows) {
                lo = minOf(lo, vTable.start[oy])
                hi = maxOf(hi, vTable.start[oy] + vTable.count[oy])
            }
        }
        val p = Plan(g, hTable, vTable, rowFrom, rows, colFrom, cols, if (letterbox) g.top else 0, if (letterbox) g.left else 0, lo, hi)
        if (horizontal.size < 3 * height * cols) horizontal = DoubleArray(3 * height * cols)
        inW = width
        inH = height
        plan = p
        return p
    }

    /**
     * Where the model's input comes from in the upright frame (width x height), as fractions of it: the centre
     * crop's square (what the model sees; the rest of the frame is cut off), or the whole frame (letterbox, resize).
     */
    fun modelRegion(width: Int, height: Int): Region {
        if (manifest.resize == "letterbox" || manifest.resize == "resize") return Region(0.0, 0.0, 1.0, 1.0)
        val g = Geometry.centerCrop(height, width, size)
        return Region(g.left.toDouble() / g.width, g.top.toDouble() / g.height,
            (g.left + size).toDouble() / g.width, (g.top + size).toDouble() / g.height)
    }

    companion object {
        /** v / 255.0 for every 8-bit v: the same double as the division (it is the division, done once). */
        private val UNIT = DoubleArray(256) { it / 255.0 }
    }
}

/** A rectangle as fractions (0..1) of an image's width and height. */
data class Region(val left: Double, val top: Double, val right: Double, val bottom: Double)

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
 * PIL's antialiased bilinear (triangle filter) weights, exactly as edgekit.preprocess (triangle_taps); the
 * Preprocessor applies them widths first, then heights, skipping a pass whose size does not change (it would be
 * the identity), out_i = ((w_0 * s_lo + w_1 * s_lo+1) + w_2 * s_lo+2) + ... in tap order.
 */
object Resample {
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
