package dev.edgekit.core

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import kotlin.math.abs

class PostprocessTest {
    /** The host runtime's raw output for edgekit's tensor -> the app's dequantize, softmax, top-5 = edgekit's top-5. */
    @TestFactory
    fun topFiveEqualsEdgekitsOnHostOutputs(): List<DynamicTest> = Fixtures.list("tensors").filter { it["top5"] != null }.map { row ->
        dynamicTest("top-5 ${row["image"]} -> ${row["artifact"]}") {
            val manifest = Fixtures.manifest(row["artifact"] as String)
            val logits = when (manifest.outputDtype) {
                "float32" -> Fixtures.floats(row["output"])
                else -> Postprocess.dequantize(Fixtures.bytes(row["output"]), manifest.outputQuant!!, manifest.outputDtype == "int8")
            }
            assertEquals(manifest.numClasses, logits.size)
            val top = Postprocess.topK(Postprocess.softmax(logits), 5, manifest.labels)
            val expected = (row["top5"] as List<*>).map { it as List<*> }
            assertEquals(expected.map { (it[0] as Double).toInt() }, top.map { it.index })
            for ((p, e) in top.zip(expected)) assertTrue(abs(p.probability - (e[1] as Double)) < 1e-5, "probability ${p.probability} vs ${e[1]}")
            assertEquals(manifest.labels[top[0].index], top[0].label)
        }
    }

    @Test
    fun dequantizeSignedAndUnsigned() {
        val raw = byteArrayOf(-128, -14, 0, 127)
        val q = Quant(0.5f, -14)
        assertEquals(listOf(-57f, 0f, 7f, 70.5f), Postprocess.dequantize(raw, q, signed = true).toList())
        assertEquals(listOf(71f, 128f, 7f, 70.5f), Postprocess.dequantize(raw, Quant(0.5f, -14), signed = false).toList())
    }

    @Test
    fun softmaxIsStableAndTiesGoToTheLowerIndex() {
        val probs = Postprocess.softmax(floatArrayOf(1000f, 1000f, -1000f))
        assertEquals(0.5f, probs[0], 1e-6f)
        assertEquals(1f, probs.sum(), 1e-6f)
        val top = Postprocess.topK(probs, 2, listOf("a", "b", "c"))
        assertEquals(listOf(0, 1), top.map { it.index })
        assertEquals(3, Postprocess.topK(probs, 10, listOf("a", "b", "c")).size)
        assertThrows(IllegalArgumentException::class.java) { Postprocess.topK(probs, 1, listOf("a")) }
    }

    @Test
    fun latencySmootherAveragesTheLastWindow() {
        val s = LatencySmoother(window = 3)
        assertTrue(s.mean.isNaN())
        listOf(10.0, 20.0, 30.0).forEach(s::add)
        assertEquals(20.0, s.mean, 1e-12)
        s.add(100.0)  // 10 leaves the window
        assertEquals(50.0, s.mean, 1e-12)
        assertThrows(IllegalArgumentException::class.java) { LatencySmoother(0) }
    }

    /** The one-pass top-k equals a full sort (higher first, the lower index on a tie, NaN first) on scores with
     *  many ties, and allocates only its result: no boxed indices per frame. */
    @Test
    fun topKEqualsAFullSortAndAllocatesOnlyItsResult() {
        val random = java.util.Random(37)
        val labels = List(1000) { "c$it" }
        for (round in 0 until 200) {
            val probs = FloatArray(1000) { (random.nextInt(if (round % 2 == 0) 20 else 100000)).toFloat() / 7f }
            if (round % 10 == 3) probs[random.nextInt(1000)] = Float.NaN
            for (k in listOf(0, 1, 3, 5, 1000, 1200)) {
                val expected = probs.indices.sortedWith(compareByDescending<Int> { probs[it] }.thenBy { it }).take(k)
                assertEquals(expected, Postprocess.topK(probs, k, labels).map { it.index }, "round $round, k $k")
            }
        }
        val bean = java.lang.management.ManagementFactory.getThreadMXBean() as? com.sun.management.ThreadMXBean
        org.junit.jupiter.api.Assumptions.assumeTrue(bean != null && bean.isThreadAllocatedMemorySupported,
            "this JVM does not count allocated bytes per thread")
        val probs = FloatArray(1000) { random.nextFloat() }
        repeat(2000) { Postprocess.topK(probs, 3, labels) }           // warm-up (JIT)
        val id = Thread.currentThread().id
        val before = bean!!.getThreadAllocatedBytes(id)
        repeat(100) { Postprocess.topK(probs, 3, labels) }
        val perCall = (bean.getThreadAllocatedBytes(id) - before) / 100
        assertTrue(perCall < 512, "top-3 of 1000 scores allocated $perCall bytes per call (a sort of boxed indices: ~30 KB)")
    }
}
