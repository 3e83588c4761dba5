package dev.edgekit.core

import dev.edgekit.core.tool.ImageFiles
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.TestFactory
import java.nio.ByteBuffer
import kotlin.math.abs
import kotlin.math.ceil

/** The app's tensors from image files and camera planes against edgekit's, for every fixture (image, artifact). */
class TensorFixtureTest {
    private val upright = HashMap<String, RgbImage>()

    private fun uprightFromYuv(name: String): RgbImage = upright.getOrPut(name) {
        val e = Fixtures.list("yuv").first { it["name"] == name }
        val rgb = Yuv.toRgb(
            ByteBuffer.wrap(Fixtures.bytes(e["y"])), ByteBuffer.wrap(Fixtures.bytes(e["u"])), ByteBuffer.wrap(Fixtures.bytes(e["v"])),
            (e["width"] as Double).toInt(), (e["height"] as Double).toInt(), (e["y_row_stride"] as Double).toInt(),
            (e["uv_row_stride"] as Double).toInt(), (e["uv_pixel_stride"] as Double).toInt(),
        )
        Rotation.rotate(rgb, (e["rotation"] as Double).toInt())
    }

    @TestFactory
    fun tensorsEqualEdgekits(): List<DynamicTest> = Fixtures.list("tensors").map { row ->
        val kind = row["kind"] as String
        val artifact = row["artifact"] as String
        dynamicTest("$kind ${row["image"]} -> $artifact") {
            val manifest = Fixtures.manifest(artifact)
            val image = if (kind == "yuv") uprightFromYuv(row["image"] as String)
                else ImageFiles.decode(Fixtures.file(Fixtures.list("images").first { it["name"] == row["image"] }["file"]))
            val tensor = Preprocessor(manifest).tensor(image)
            assertArrayEquals(Fixtures.ints(row["shape"]), tensor.shape)
            assertEquals(row["dtype"], tensor.dtype)
            val tolerance = Fixtures.tolerance(if (kind == "jpeg") "jpeg" else "png")
            if (tensor.floats != null) {
                val expected = Fixtures.floats(row["tensor"])
                assertEquals(expected.size, tensor.floats!!.size)
                var worst = 0.0
                var mean = 0.0
                for (i in expected.indices) {
                    val d = abs(expected[i] - tensor.floats!![i]).toDouble()
                    worst = maxOf(worst, d)
                    mean += d / expected.size
                }
                var unequalBits = 0
                for (i in expected.indices) if (java.lang.Float.floatToRawIntBits(expected[i]) != java.lang.Float.floatToRawIntBits(tensor.floats!![i])) unequalBits++
                Fixtures.report("  $kind ${row["image"]} $artifact: max |diff| %.3g, mean %.3g, %d of %d not bit-equal (tolerance %.3g)".format(worst, mean, unequalBits, expected.size, tolerance))
                assertTrue(worst <= tolerance, "max |diff| $worst > $tolerance")
                // lossless images and camera frames: the float32 tensor is bit for bit edgekit's (the float64 contract)
                if (kind != "jpeg") assertEquals(0, unequalBits, "$unequalBits values not bit-equal to edgekit's")
            } else {
                val expected = Fixtures.bytes(row["tensor"])
                val signed = tensor.dtype == "int8"
                val steps = if (kind == "jpeg") ceil(tolerance / manifest.inputQuant!!.scale).toInt() + 1
                    else Fixtures.tolerance("quantized_steps").toInt()  // 0: every int8/uint8 value equal
                var worst = 0
                var differing = 0
                for (i in expected.indices) {
                    val a = if (signed) expected[i].toInt() else expected[i].toInt() and 0xFF
                    val b = if (signed) tensor.bytes!![i].toInt() else tensor.bytes!![i].toInt() and 0xFF
                    worst = maxOf(worst, abs(a - b))
                    if (a != b) differing++
                }
                Fixtures.report("  $kind ${row["image"]} $artifact: max |step diff| $worst, $differing of ${expected.size} differ (tolerance $steps)")
                assertTrue(worst <= steps, "max step difference $worst > $steps")
            }
        }
    }

    @TestFactory
    fun yuvPlanesGiveEdgekitsRgbExactly(): List<DynamicTest> = Fixtures.list("yuv").map { e ->
        dynamicTest("yuv ${e["name"]}") {
            val width = (e["width"] as Double).toInt()
            val height = (e["height"] as Double).toInt()
            // planes handed over as direct buffers positioned past a header, as camera buffers may be
            fun direct(bytes: ByteArray): ByteBuffer {
                val b = ByteBuffer.allocateDirect(bytes.size + 3)
                b.put(byteArrayOf(1, 2, 3)).put(bytes).position(3)
                return b
            }
            val rgb = Yuv.toRgb(
                direct(Fixtures.bytes(e["y"])), direct(Fixtures.bytes(e["u"])), direct(Fixtures.bytes(e["v"])), width, height,
                (e["y_row_stride"] as Double).toInt(), (e["uv_row_stride"] as Double).toInt(), (e["uv_pixel_stride"] as Double).toInt(),
            )
            assertArrayEquals(Fixtures.bytes(e["rgb"]), rgb.rgb, "YUV -> RGB differs from edgekit's reference")
            val turned = Rotation.rotate(rgb, (e["rotation"] as Double).toInt())
            assertEquals((e["upright_width"] as Double).toInt(), turned.width)
            assertArrayEquals(Fixtures.bytes(e["upright_rgb"]), turned.rgb, "rotation differs from edgekit's reference")
        }
    }
}
