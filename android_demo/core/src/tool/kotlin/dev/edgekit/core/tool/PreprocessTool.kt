package dev.edgekit.core.tool

import dev.edgekit.core.Manifest
import dev.edgekit.core.ManifestException
import dev.edgekit.core.Preprocessor
import java.io.File
import kotlin.system.exitProcess

private const val USAGE = "usage: preprocess.sh --manifest MANIFEST.json --out DIR IMAGE..."

/**
 * preprocess.sh --manifest PATH --out DIR IMAGE...: each image -> DIR/<file name without extension>.bin, raw
 * little-endian in the manifest's input dtype and layout, exactly as the app preprocesses (dev.edgekit.core).
 * Bad input: one line on stderr, exit 1 (usage errors exit 2); nothing half-written (temp file, then rename).
 */
fun main(args: Array<String>) {
    var manifestPath: String? = null
    var outDir: String? = null
    val images = ArrayList<String>()
    var i = 0
    while (i < args.size) {
        when (val a = args[i]) {
            "--manifest" -> manifestPath = args.getOrNull(++i) ?: usage("--manifest needs a path")
            "--out" -> outDir = args.getOrNull(++i) ?: usage("--out needs a folder")
            "-h", "--help" -> { println(USAGE); return }
            else -> if (a.startsWith("--")) usage("unknown option $a") else images.add(a)
        }
        i++
    }
    if (manifestPath == null) usage("--manifest is required")
    if (outDir == null) usage("--out is required")
    if (images.isEmpty()) usage("no images given")
    try {
        run(File(manifestPath), File(outDir), images.map { File(it) })
    } catch (e: ManifestException) {
        fail("manifest $manifestPath: ${e.message}")
    } catch (e: ImageFileException) {
        fail(e.message ?: "cannot read an image")
    }
}

private fun run(manifestFile: File, out: File, images: List<File>) {
    if (!manifestFile.isFile) throw ManifestException("no such file")
    val labels = File(manifestFile.parentFile ?: File("."), "labels.txt").takeIf { it.isFile }?.readText()
    val manifest = Manifest.parse(manifestFile.readText(), labels)
    val stems = images.map { it.name.substringBeforeLast('.') }
    stems.groupBy { it }.filter { it.value.size > 1 }.keys.firstOrNull()?.let {
        fail("two images would both write $it.bin: give images with different names")
    }
    images.firstOrNull { !it.isFile }?.let { fail("no such image file: $it") }
    val preprocessor = Preprocessor(manifest)
    val tensors = images.map { preprocessor.tensor(ImageFiles.decode(it)).toLittleEndianBytes() }  // all decoded before any write
    if (!out.isDirectory && !out.mkdirs()) fail("cannot create $out")
    for ((stem, bytes) in stems.zip(tensors)) {
        val target = File(out, "$stem.bin")
        val tmp = File(out, ".$stem.bin.tmp")
        tmp.writeBytes(bytes)
        if (!tmp.renameTo(target)) { tmp.delete(); fail("cannot write $target") }
    }
    println("wrote ${tensors.size} tensor(s) ${manifest.inputShape.joinToString("x")} ${manifest.inputDtype} ${manifest.layout} to $out")
}

private fun usage(message: String): Nothing {
    System.err.println("error: $message\n$USAGE")
    exitProcess(2)
}

private fun fail(message: String): Nothing {
    System.err.println("error: $message")
    exitProcess(1)
}
