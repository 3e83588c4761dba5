package dev.edgekit.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.File

class ManifestTest {
    private val minimal = """
        {"schema": "edgekit-manifest/1", "model": "m", "format": "tflite", "precision": "int8", "file": "model.tflite",
         "input": {"name": "x", "shape": [1, 3, 8, 8], "dtype": "int8", "layout": "NCHW",
                   "quantization": {"scale": 0.0186, "zero_point": -14}},
         "output": {"shape": [1, 2], "dtype": "int8", "quantization": {"scale": 0.5, "zero_point": -128}},
         "preprocessing": {"img_size": 8, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                           "resize": "center_crop", "channel_order": "RGB"},
         "num_classes": 2, "labels": ["cat", "dog"]}
    """.trimIndent()

    private fun fails(json: String, labels: String? = null, expect: String) {
        val e = assertThrows(ManifestException::class.java) { Manifest.parse(json, labels) }
        assertTrue(e.message!!.contains(expect), "message '${e.message}' lacks '$expect'")
    }

    @Test
    fun parsesTheFieldsTheAppNeeds() {
        val m = Manifest.parse(minimal, "cat\ndog\n")
        assertArrayEquals(intArrayOf(1, 3, 8, 8), m.inputShape)
        assertEquals(Quant(0.0186f, -14), m.inputQuant)
        assertEquals(Quant(0.5f, -128), m.outputQuant)
        assertEquals(listOf("cat", "dog"), m.labels)
        assertEquals(0.229f, m.std[0])
        assertNull(Manifest.parse(minimal.replace("\"dtype\": \"int8\", \"layout\"", "\"dtype\": \"float32\", \"layout\"")).inputQuant)
    }

    @Test
    fun badManifestsAreRefusedWithAClearMessage() {
        fails("", expect = "not valid JSON")
        fails("[1]", expect = "not a JSON object")
        fails(minimal.replace("edgekit-manifest/1", "other/2"), expect = "not an edgekit manifest")
        fails("{}", expect = "not an edgekit manifest")
        fails(minimal.replace("\"tflite\"", "\"torchscript\""), expect = "cannot run in the app")
        fails(minimal, "cat\n", expect = "labels.txt has 1 labels, the manifest says 2 classes")
        fails(minimal, "cat\nbird\n", expect = "differs")
        fails(minimal.replace("\"num_classes\": 2", "\"num_classes\": 3"), expect = "lists 2 labels for num_classes 3")
        fails(minimal.replace("center_crop", "stretch"), expect = "unsupported resize rule stretch")
        fails(minimal.replace("\"layout\": \"NCHW\"", "\"layout\": \"CHW\""), expect = "unsupported input layout")
        fails(minimal.replace("[1, 3, 8, 8]", "[1, 3, 9, 9]"), expect = "does not match NCHW")
        fails(minimal.replace("\"dtype\": \"int8\", \"layout\"", "\"dtype\": \"float16\", \"layout\""), expect = "unsupported input dtype")
        fails(minimal.replace("\"quantization\": {\"scale\": 0.0186, \"zero_point\": -14}", "\"q\": 1"), expect = "no quantization")
        fails(minimal.replace("[0.229, 0.224, 0.225]", "[0.229, 0, 0.225]"), expect = "std must be positive")
        fails(minimal.replace("\"preprocessing\"", "\"preproc\""), expect = "preprocessing is missing")
    }

    @TestFactory
    fun everyFixtureManifestParses(): List<DynamicTest> = Fixtures.list("artifacts").map { a ->
        dynamicTest("manifest ${a["name"]}") {
            val text = Fixtures.file(a["manifest"]).readText()
            val m = Manifest.parse(text, File(Fixtures.file(a["manifest"]).parentFile, "labels.txt").readText())
            val json = Json.parse(text) as Map<*, *>
            assertEquals(a["format"], m.format)
            assertEquals((json["num_classes"] as Double).toInt(), m.labels.size)
            val row = Fixtures.list("tensors").first { it["artifact"] == a["name"] }
            assertArrayEquals(Fixtures.ints(row["shape"]), m.inputShape)
        }
    }
}
