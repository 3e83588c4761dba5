package dev.edgekit.core.tool

import dev.edgekit.core.BoxMapping
import dev.edgekit.core.DetectionPostprocessor
import dev.edgekit.core.Manifest
import dev.edgekit.core.ManifestException
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Locale
import kotlin.system.exitProcess

private const val DETECT_USAGE = "usage: postprocess.sh --manifest MANIFEST.json --out DIR OUTPUT.bin@WIDTHxHEIGHT..."

/**
 * postprocess.sh --manifest PATH --out DIR OUTPUT.bin@WIDTHxHEIGHT...: a detector's raw output (little-endian, the
 * manifest's output dtype, [1, A, 4 + K]) -> the app's detections exactly as the app computes them
 * (dev.edgekit.core.DetectionPostprocessor, then BoxMapping back to a WIDTH x HEIGHT image) ->
 * DIR/<file name without extension>.json: {"count", "labels", "scores", "image_boxes"}, in the app's order.
 * Bad input: one line on stderr, exit 1 (usage errors exit 2).
 */
fun main(args: Array<String>) {
    var manifestPath: String? = null
    var outDir: String? = null
    val outputs = ArrayList<String>()
    var i = 0
    while (i < args.size) {
        when (val a = args[i]) {
            "--manifest" -> manifestPath = args.getOrNull(++i) ?: detectUsage("--manifest needs a path")
            "--out" -> outDir = args.getOrNull(++i) ?: detectUsage("--out needs a folder")
            "-h", "--help" -> { println(DETECT_USAGE); return }
            else -> if (a.startsWith("--")) detectUsage("unknown option $a") else outputs.add(a)
        }
        i++
    }
    if (manifestPath == null) detectUsage("--manifest is required")
    if (outDir == null) detectUsage("--out is required")
    if (outputs.isEmpty()) detectUsage("no outputs given")
    val manifestFile = File(manifestPath)
    val manifest = try {
        if (!manifestFile.isFile) throw ManifestException("no such file")
        val labels = File(manifestFile.parentFile ?: File("."), "labels.txt").takeIf { it.isFile }?.readText()
        Manifest.parse(manifestFile.readText(), labels)
    } catch (e: ManifestException) {
        detectFail("manifest $manifestPath: ${e.message}")
    }
    if (!manifest.isDetector) detectFail("manifest $manifestPath: not a detector's (task ${manifest.task})")
    val post = DetectionPostprocessor(manifest)
    val out = File(outDir)
    if (!out.isDirectory && !out.mkdirs()) detectFail("cannot create $out")
    val image = DoubleArray(post.capacity * 4)
    for (arg in outputs) {
        val file = File(arg.substringBeforeLast('@'))
        val size = arg.substringAfterLast('@', "").split('x').mapNotNull { it.toIntOrNull() }
        if (!arg.contains('@') || size.size != 2 || size[0] < 1 || size[1] < 1) detectUsage("$arg: give OUTPUT.bin@WIDTHxHEIGHT")
        if (!file.isFile) detectFail("no such output file: $file")
        val bytes = file.readBytes()
        if (manifest.outputDtype == "float32") {
            if (bytes.size != post.outputSize * 4) detectFail("$file has ${bytes.size} bytes, the manifest's output is ${post.outputSize} float32 values")
            val floats = FloatArray(post.outputSize)
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(floats)
            post.run(floats)
        } else {
            if (bytes.size != post.outputSize) detectFail("$file has ${bytes.size} bytes, the manifest's output is ${post.outputSize} ${manifest.outputDtype} values")
            post.runQuantized(bytes)
        }
        BoxMapping(manifest.imgSize, manifest.resize, size[0], size[1]).toImage(post.boxes, post.count, image)
        val n = post.count
        val json = StringBuilder("{\"count\": $n, \"labels\": [")
        (0 until n).joinTo(json, ", ") { post.labels[it].toString() }
        json.append("], \"scores\": [")
        (0 until n).joinTo(json, ", ") { post.scores[it].toDouble().toString() }
        json.append("], \"image_boxes\": [")
        (0 until n).joinTo(json, ", ") { b -> (0 until 4).joinToString(", ", "[", "]") { String.format(Locale.US, "%.17g", image[4 * b + it]) } }
        json.append("]}\n")
        val stem = file.name.substringBeforeLast('.')
        val target = File(out, "$stem.json")
        val tmp = File(out, ".$stem.json.tmp")
        tmp.writeText(json.toString())
        if (!tmp.renameTo(target)) { tmp.delete(); detectFail("cannot write $target") }
    }
    println("wrote ${outputs.size} detection file(s) to $out")
}

private fun detectUsage(message: String): Nothing {
    System.err.println("error: $message\n$DETECT_USAGE")
    exitProcess(2)
}

private fun detectFail(message: String): Nothing {
    System.err.println("error: $message")
    exitProcess(1)
}
