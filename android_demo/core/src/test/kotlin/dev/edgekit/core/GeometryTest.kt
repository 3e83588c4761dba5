package dev.edgekit.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Test
import java.nio.ByteBuffer

class GeometryTest {
    @Test
    fun centreCropSizesAreTheDocumentedIntegerRules() {
        assertEquals(256, Geometry.resizedShorterSide(224))
        assertEquals(73, Geometry.resizedShorterSide(64))
        for (n in 1..4000) assertEquals(Math.round(n / 0.875).toInt(), Geometry.resizedShorterSide(n), "size $n")
        assertEquals(Geometry(256, 383, 16, 79), Geometry.centerCrop(683, 1024, 224))  // longer side floored: 383
        assertEquals(Geometry(104, 73, 20, 4), Geometry.centerCrop(53, 37, 64))  // 73 * 53 / 37 = 104.6 -> 104
        assertEquals(Geometry(73, 104, 4, 20), Geometry.centerCrop(37, 53, 64))
    }

    @Test
    fun letterboxRoundsHalfUpAndPadsTopLeftWithTheSmallerHalf() {
        assertEquals(Geometry(149, 224, 37, 0), Geometry.letterbox(683, 1024, 224))
        assertEquals(Geometry(64, 45, 0, 9), Geometry.letterbox(53, 37, 64))
        assertEquals(Geometry(2, 4, 1, 0), Geometry.letterbox(3, 6, 4))  // 1.5 * ... = 2 exactly
        assertEquals(Geometry(1, 4, 1, 0), Geometry.letterbox(1, 1000, 4))  // never below 1 pixel
    }

    @Test
    fun rotationTurnsClockwise() {
        // 2x1 image: red, green -> turned 90 clockwise it is 1x2: red on top
        val img = RgbImage(2, 1, byteArrayOf(10, 0, 0, 0, 20, 0))
        val r90 = Rotation.rotate(img, 90)
        assertEquals(1, r90.width)
        assertArrayEquals(byteArrayOf(10, 0, 0, 0, 20, 0), r90.rgb)
        assertArrayEquals(byteArrayOf(0, 20, 0, 10, 0, 0), Rotation.rotate(img, 270).rgb)
        assertArrayEquals(byteArrayOf(0, 20, 0, 10, 0, 0), Rotation.rotate(img, 180).rgb)
        assertArrayEquals(img.rgb, Rotation.rotate(Rotation.rotate(img, 90), -90).rgb)
        assertThrows(IllegalArgumentException::class.java) { Rotation.rotate(img, 45) }
    }

    @Test
    fun yuvGreyAndSaturatedColours() {
        // 2x2 frame, Y = 0, 128, 255, 76; U = V = 128 (grey) then a red chroma sample
        val y = ByteBuffer.wrap(byteArrayOf(0, 128.toByte(), 255.toByte(), 76))
        val grey = Yuv.toRgb(y, ByteBuffer.wrap(byteArrayOf(128.toByte())), ByteBuffer.wrap(byteArrayOf(128.toByte())), 2, 2, 2, 1, 1)
        assertArrayEquals(byteArrayOf(0, 0, 0, 128.toByte(), 128.toByte(), 128.toByte(), -1, -1, -1, 76, 76, 76), grey.rgb)
        // full-range BT.601 red: Y 76, U 85, V 255 -> (254, 0, 0) after clamping
        val red = Yuv.toRgb(ByteBuffer.wrap(byteArrayOf(76)), ByteBuffer.wrap(byteArrayOf(85)), ByteBuffer.wrap(byteArrayOf(255.toByte())), 1, 1, 1, 1, 1)
        assertEquals(254, red.rgb[0].toInt() and 0xFF)
        assertEquals(0, red.rgb[1].toInt() and 0xFF)
        assertEquals(0, red.rgb[2].toInt() and 0xFF)
        assertThrows(IllegalArgumentException::class.java) {
            Yuv.toRgb(ByteBuffer.allocate(3), ByteBuffer.allocate(1), ByteBuffer.allocate(1), 2, 2, 2, 1, 1)
        }
    }
}
