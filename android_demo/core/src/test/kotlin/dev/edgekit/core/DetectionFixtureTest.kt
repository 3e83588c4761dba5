package dev.edgekit.core

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.TestFactory
import kotlin.math.abs

/**
 * The app's detection postprocessing against edgekit.detection_post.postprocess, box for box: the detector's raw
 * output on real images (and outputs made to test ties, the threshold, the cut-offs and an empty result), from
 * `edgekit android fixtures` of a detector's export. Same count, same classes in the same order, scores equal as
 * float32, boxes (network frame and image pixels) within 1e-9 px (both sides compute them in double).
 */
class DetectionFixtureTest {
    private fun doubles(list: Any?): DoubleArray = (list as List<*>).flatMap { it as List<*> }.map { it as Double }.toDoubleArray()

    private fun compare(where: String, p: DetectionPostprocessor, expected: Map<*, *>) {
        val count = (expected["count"] as Double).toInt()
        val labels = Fixtures.ints(expected["labels"])
        val scores = (expected["scores"] as List<*>).map { (it as Double).toFloat() }.toFloatArray()
        val boxes = doubles(expected["boxes"])
        assertEquals(count, p.count, "$where: number of detections")
        assertArrayEquals(labels, p.labels.copyOf(p.count), "$where: classes in order")
        assertArrayEquals(scores, p.scores.copyOf(p.count), "$where: scores in order (float32, exactly)")
        var worst = 0.0
        for (i in 0 until 4 * count) worst = maxOf(worst, abs(boxes[i] - p.boxes[i]))
        val width = (expected["image_width"] as Double).toInt()
        val height = (expected["image_height"] as Double).toInt()
        val rule = expected["resize"] as String  // the manifest's, or another rule to test the mapping
        val mapping = BoxMapping(p.manifest.imgSize, rule, width, height)
        val image = DoubleArray(4 * count)
        mapping.toImage(p.boxes, count, image)
        val imageExpected = doubles(expected["image_boxes"])
        var worstImage = 0.0
        for (i in 0 until 4 * count) worstImage = maxOf(worstImage, abs(imageExpected[i] - image[i]))
        Fixtures.report("  $where: $count detections, same order; max |box diff| %.3g px (network frame), %.3g px (image ${width}x$height, $rule)".format(worst, worstImage))
        assertTrue(worst <= 1e-9, "$where: box differs by $worst px")
        assertTrue(worstImage <= 1e-9, "$where: image box differs by $worstImage px")
    }

    @TestFactory
    fun realOutputsGiveEdgekitsBoxes(): List<DynamicTest> = Fixtures.list("tensors").filter { it.containsKey("detections") }.map { row ->
        dynamicTest("detections ${row["kind"]} ${row["image"]} -> ${row["artifact"]}") {
            val manifest = Fixtures.manifest(row["artifact"] as String)
            assertTrue(manifest.isDetector)
            val p = DetectionPostprocessor(manifest)
            if (row["output_dtype"] == "float32") p.run(Fixtures.floats(row["output"])) else p.runQuantized(Fixtures.bytes(row["output"]))
            compare("${row["image"]} ${row["artifact"]}", p, row["detections"] as Map<*, *>)
            // a second run on the same postprocessor (buffers reused) gives the same answer
            val first = p.detections()
            if (row["output_dtype"] == "float32") p.run(Fixtures.floats(row["output"])) else p.runQuantized(Fixtures.bytes(row["output"]))
            assertEquals(first, p.detections())
        }
    }

    @TestFactory
    fun madeCasesGiveEdgekitsBoxes(): List<DynamicTest> {
        Fixtures.root()  // no fixtures: skipped, never passed
        // a classifier's fixtures have none (tests/test_android_detection.py checks that a detector's ran)
        val cases = Fixtures.index["detection_cases"] as? List<*> ?: emptyList<Any>()
        return cases.map { it as Map<*, *> }.map { case ->
            dynamicTest("detection case ${case["name"]}") {
                val s = case["settings"] as Map<*, *>
                val base = Fixtures.manifest(case["artifact"] as String)
                val manifest = base.copy(detection = base.detection!!.copy(
                    scoreThreshold = s["score_threshold"] as Double, iouThreshold = s["iou_threshold"] as Double,
                    maxDetections = (s["max_detections"] as Double).toInt(),
                    candidatesPerClass = (s["candidates_per_class"] as Double).toInt()))
                val p = DetectionPostprocessor(manifest)
                p.run(Fixtures.floats(case["output"]))
                compare("case ${case["name"]}", p, case["detections"] as Map<*, *>)
            }
        }
    }
}
