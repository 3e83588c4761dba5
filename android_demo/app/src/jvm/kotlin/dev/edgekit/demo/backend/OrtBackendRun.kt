package dev.edgekit.demo.backend

// The app's OrtBackend (app/src/main, unchanged) on the JVM against a real ONNX Runtime: compiled and run by
// android_demo/app/ort_jvm.sh for tests/test_android_ort_jvm.py. Not part of any APK (Gradle builds
// src/main and src/gradleOnly; build_offline_apk.sh src/main only).

import dev.edgekit.core.InputTensor
import dev.edgekit.core.Manifest
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.system.exitProcess

/**
 *   OrtBackendRunKt --artifact DIR --threads N [--spinning] --out DIR TENSOR...
 * DIR holds manifest.json, labels.txt and the model file, as the app's assets do. Each TENSOR is raw
 * little-endian values in the manifest's input dtype and layout; its logits (what OrtBackend.run returns: float32,
 * int8/uint8 outputs dequantized with the manifest's scale/zero-point) go to OUT/<tensor file name>.logits as
 * little-endian float32. Every tensor runs twice through the same backend (its input and pinned output buffers are
 * reused): the second run's logits must be the first's, else exit 3. Prints `runtime onnxruntime VERSION`.
 */
fun main(args: Array<String>) {
    var artifact: File? = null
    var out: File? = null
    var threads = 1
    var spinning = false
    val tensors = ArrayList<File>()
    var i = 0
    while (i < args.size) {
        when (args[i]) {
            "--artifact" -> artifact = File(args[++i])
            "--out" -> out = File(args[++i])
            "--threads" -> threads = args[++i].toInt()
            "--spinning" -> spinning = true
            else -> tensors.add(File(args[i]))
        }
        i++
    }
    val dir = artifact ?: usage("--artifact DIR is required")
    val outDir = out ?: usage("--out DIR is required")
    val labels = File(dir, "labels.txt").takeIf { it.isFile }?.readText()
    val manifest = Manifest.parse(File(dir, "manifest.json").readText(), labels)
    outDir.mkdirs()
    val backend = OrtBackend(manifest, File(dir, manifest.file), BackendOptions(threads, spinning = spinning))
    try {
        println("runtime ${backend.runtime} ${backend.runtimeVersion}")
        for (file in tensors) {
            val input = readTensor(file, manifest)
            val first = backend.run(input).copyOf()
            val second = backend.run(input)
            if (!first.contentEquals(second)) {
                System.err.println("${file.name}: a second run of the same tensor gave other logits")
                exitProcess(3)
            }
            val bytes = ByteBuffer.allocate(first.size * 4).order(ByteOrder.LITTLE_ENDIAN)
            bytes.asFloatBuffer().put(first)
            File(outDir, "${file.name}.logits").writeBytes(bytes.array())
        }
        println("${tensors.size} tensor(s) -> $outDir")
    } finally {
        backend.close()
    }
}

private fun readTensor(file: File, manifest: Manifest): InputTensor {
    val raw = file.readBytes()
    val shape = manifest.inputShape
    val count = shape.fold(1) { a, b -> a * b }
    return when (manifest.inputDtype) {
        "float32" -> {
            require(raw.size == count * 4) { "${file.name}: ${raw.size} bytes, the manifest's input is $count float32" }
            val floats = FloatArray(count)
            ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(floats)
            InputTensor(shape, "float32", floats, null)
        }
        "int8", "uint8" -> {
            require(raw.size == count) { "${file.name}: ${raw.size} bytes, the manifest's input is $count ${manifest.inputDtype}" }
            InputTensor(shape, manifest.inputDtype, null, raw)
        }
        else -> usage("input dtype ${manifest.inputDtype} is not one the app runs")
    }
}

private fun usage(why: String): Nothing {
    System.err.println("error: $why\nusage: OrtBackendRunKt --artifact DIR --threads N [--spinning] --out DIR TENSOR...")
    exitProcess(2)
}
