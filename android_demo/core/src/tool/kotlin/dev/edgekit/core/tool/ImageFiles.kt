package dev.edgekit.core.tool

import dev.edgekit.core.RgbImage
import java.awt.image.BufferedImage
import java.awt.image.IndexColorModel
import java.io.ByteArrayInputStream
import java.io.File
import java.io.IOException
import javax.imageio.ImageIO

/** An image file the tool cannot turn into RGB the way edgekit does. */
class ImageFileException(message: String) : Exception(message)

/**
 * Image file -> 8-bit RGB as edgekit's load_rgb does it (JVM only: javax.imageio; not part of the app's core):
 * the EXIF orientation applied (JPEG APP1 or PNG eXIf), grey replicated, palette expanded, alpha composited over
 * white with PIL's rounding (t = src * a + 255 * (255 - a) + 128; (t + (t >> 8)) >> 8), 16-bit samples (grey,
 * grey + alpha, RGB, RGBA) taken as their high byte (v >> 8) as edgekit's load_rgb does (docs/manifest.md,
 * "Preprocessing, exactly", step 1). PNG decodes exactly as PIL; JPEG decoders differ (IDCT, chroma upsampling),
 * see docs/manifest.md for the measured tolerance.
 * Refused with a clear message: undecodable files, CMYK JPEGs, samples other than 8 or 16 bits.
 */
object ImageFiles {
    fun decode(file: File): RgbImage {
        val bytes = try {
            file.readBytes()
        } catch (e: IOException) {
            throw ImageFileException("cannot read image $file: ${e.message}")
        }
        val image = try {
            ImageIO.read(ByteArrayInputStream(bytes))
        } catch (e: Exception) {
            throw ImageFileException("cannot decode image $file: ${e.message ?: e.javaClass.simpleName}")
        } ?: throw ImageFileException("cannot decode image $file: not an image format javax.imageio reads (PNG, JPEG, BMP, GIF)")
        val rgb = toRgb(image, file)
        return Orientation.apply(rgb, Orientation.read(bytes))
    }

    private fun toRgb(image: BufferedImage, file: File): RgbImage {
        val w = image.width
        val h = image.height
        val out = ByteArray(w * h * 3)
        val cm = image.colorModel
        val raster = image.raster
        if (cm is IndexColorModel) {
            for (y in 0 until h) for (x in 0 until w) {
                val i = raster.getSample(x, y, 0)
                put(out, (y * w + x) * 3, cm.getRed(i), cm.getGreen(i), cm.getBlue(i), cm.getAlpha(i))
            }
            return RgbImage(w, h, out)
        }
        val shift = when {
            cm.componentSize.all { it == 8 } -> 0
            cm.componentSize.all { it == 16 } -> 8  // the high byte, as edgekit's load_rgb
            else -> throw ImageFileException(
                "cannot read image $file: ${cm.componentSize.max()}-bit samples (the tool reads 8- and 16-bit images)")
        }
        val bands = raster.numBands
        val px = IntArray(bands)
        for (y in 0 until h) for (x in 0 until w) {
            raster.getPixel(x, y, px)
            if (shift != 0) for (i in 0 until bands) px[i] = px[i] ushr shift
            val o = (y * w + x) * 3
            when (bands) {
                1 -> put(out, o, px[0], px[0], px[0], 255)
                2 -> put(out, o, px[0], px[0], px[0], px[1])
                3 -> put(out, o, px[0], px[1], px[2], 255)
                4 -> if (cm.hasAlpha()) put(out, o, px[0], px[1], px[2], px[3])
                     else throw ImageFileException("cannot read image $file: 4 colour channels (CMYK) are not supported")
                else -> throw ImageFileException("cannot read image $file: $bands channels")
            }
        }
        return RgbImage(w, h, out)
    }

    private fun put(out: ByteArray, o: Int, r: Int, g: Int, b: Int, a: Int) {
        out[o] = over(r, a); out[o + 1] = over(g, a); out[o + 2] = over(b, a)
    }

    private fun over(v: Int, a: Int): Byte {
        if (a == 255) return v.toByte()
        val t = v * a + 255 * (255 - a) + 128
        return ((t + (t shr 8)) shr 8).toByte()
    }
}

/** EXIF orientation (tag 0x0112) from a JPEG APP1 "Exif" segment or a PNG eXIf chunk, and its application. */
object Orientation {
    fun read(bytes: ByteArray): Int {
        val tiff = tiffStart(bytes) ?: return 1
        return try { orientationTag(bytes, tiff) } catch (e: IndexOutOfBoundsException) { 1 }
    }

    private fun u16(b: ByteArray, i: Int, little: Boolean): Int =
        if (little) (b[i].toInt() and 0xFF) or ((b[i + 1].toInt() and 0xFF) shl 8)
        else ((b[i].toInt() and 0xFF) shl 8) or (b[i + 1].toInt() and 0xFF)

    private fun u32(b: ByteArray, i: Int, little: Boolean): Int =
        if (little) u16(b, i, true) or (u16(b, i + 2, true) shl 16) else (u16(b, i, false) shl 16) or u16(b, i + 2, false)

    private fun tiffStart(b: ByteArray): Int? {
        if (b.size > 4 && (b[0].toInt() and 0xFF) == 0xFF && (b[1].toInt() and 0xFF) == 0xD8) {  // JPEG
            var i = 2
            while (i + 4 <= b.size && (b[i].toInt() and 0xFF) == 0xFF) {
                val marker = b[i + 1].toInt() and 0xFF
                if (marker == 0xDA || marker == 0xD9) return null  // start of scan: no more metadata
                val len = u16(b, i + 2, false)
                if (marker == 0xE1 && i + 10 <= b.size && String(b, i + 4, 6, Charsets.ISO_8859_1) == "Exif\u0000\u0000") return i + 10
                i += 2 + len
            }
            return null
        }
        val png = byteArrayOf(0x89.toByte(), 'P'.code.toByte(), 'N'.code.toByte(), 'G'.code.toByte())
        if (b.size > 8 && b.copyOfRange(0, 4).contentEquals(png)) {
            var i = 8
            while (i + 8 <= b.size) {
                val len = u32(b, i, false)
                val type = String(b, i + 4, 4, Charsets.ISO_8859_1)
                if (type == "eXIf") return i + 8
                if (type == "IDAT" || type == "IEND" || len < 0) return null
                i += 12 + len
            }
        }
        return null
    }

    private fun orientationTag(b: ByteArray, t: Int): Int {
        val little = b[t].toInt() == 'I'.code
        val ifd = t + u32(b, t + 4, little)
        val entries = u16(b, ifd, little)
        for (k in 0 until entries) {
            val e = ifd + 2 + 12 * k
            if (u16(b, e, little) == 0x0112) {
                val value = u16(b, e + 8, little)
                return if (value in 1..8) value else 1
            }
        }
        return 1
    }

    /** Makes the image upright as PIL's ImageOps.exif_transpose does for orientations 2 to 8. */
    fun apply(image: RgbImage, orientation: Int): RgbImage {
        if (orientation !in 2..8) return image
        val w = image.width
        val h = image.height
        val swap = orientation >= 5
        val outW = if (swap) h else w
        val outH = if (swap) w else h
        val out = ByteArray(image.rgb.size)
        for (y in 0 until outH) for (x in 0 until outW) {
            val (sx, sy) = when (orientation) {
                2 -> (w - 1 - x) to y              // mirror left-right
                3 -> (w - 1 - x) to (h - 1 - y)    // rotate 180
                4 -> x to (h - 1 - y)              // mirror top-bottom
                5 -> y to x                        // transpose
                6 -> y to (h - 1 - x)              // rotate 90 clockwise
                7 -> (w - 1 - y) to (h - 1 - x)    // transverse
                else -> (w - 1 - y) to x           // 8: rotate 90 counter-clockwise
            }
            System.arraycopy(image.rgb, (sy * w + sx) * 3, out, (y * outW + x) * 3, 3)
        }
        return RgbImage(outW, outH, out)
    }
}
