package dev.edgekit.demo

import android.content.Context
import dev.edgekit.core.Manifest
import dev.edgekit.core.ManifestException
import org.json.JSONObject
import java.io.File
import java.io.IOException
import java.security.MessageDigest

/** One artifact folder bundled by `edgekit android sync`: assets/models/<model>-<format>-<precision>/. */
/** The bundled model file is not the one its manifest was written for (its sha256 differs). */
class ModelFileChangedException(message: String) : java.io.IOException(message)

class BundledModel(val name: String, val manifest: Manifest, val modelFile: File, val sizeBytes: Long, val sha256: String?)

/**
 * Reads the artifacts `edgekit android sync` put in assets/models/. Everything about a model comes from its
 * manifest.json and labels.txt (parsed by core's Manifest.parse); the model file is copied once into the
 * app's private files (checked against the manifest's sha256) so every runtime can open it by path.
 */
class ModelAssets(private val context: Context) {

    /** The bundled artifact folders, sorted; empty when none is bundled. */
    fun names(): List<String> = (context.assets.list(ROOT) ?: emptyArray()).sorted()

    /**
     * Parse and unpack one artifact. Throws ManifestException (a manifest the app cannot honour),
     * ModelFileChangedException (the model file's sha256 is not the manifest's) or IOException.
     * The model file is copied out and hashed once per installed APK: a stamp beside the copy records the
     * manifest's sha256, the copy's size and modification time and the APK's install time, and while they all
     * match the copy is used as it is (no re-copy, no re-hash on every resume or reload).
     */
    fun load(name: String): BundledModel {
        val folder = "$ROOT/$name"
        val manifestJson = readText("$folder/manifest.json")
        val labels = try { readText("$folder/labels.txt") } catch (e: IOException) { null }
        val manifest = Manifest.parse(manifestJson, labels)
        val expectedSha = JSONObject(manifestJson).optString("sha256", "")
        val target = File(File(context.filesDir, ROOT), "$name/${manifest.file}")
        val stampFile = File(target.parentFile, ".${target.name}.verified")
        fun stamp(): String = "$expectedSha ${target.length()} ${target.lastModified()} ${installTime()}"
        val current = target.isFile && stampFile.isFile && stampFile.readText() == stamp()
        if (!current) {
            target.parentFile?.mkdirs()
            stampFile.delete()
            val tmp = File(target.parentFile, ".${target.name}.tmp")
            context.assets.open("$folder/${manifest.file}").use { input ->
                tmp.outputStream().use { input.copyTo(it, 1 shl 20) }
            }
            val actual = sha256(tmp)
            if (expectedSha.isNotEmpty() && actual != expectedSha) {
                tmp.delete()
                throw ModelFileChangedException("$name/${manifest.file} changed after it was exported: its sha256 is " +
                    "$actual, its manifest says $expectedSha (run `edgekit android sync` on the export and rebuild)")
            }
            if (!tmp.renameTo(target)) throw IOException("cannot move ${tmp.path} to ${target.path}")
            stampFile.writeText(stamp())
        }
        return BundledModel(name, manifest, target, target.length(), expectedSha.ifEmpty { null })
    }

    @Suppress("DEPRECATION") // getPackageInfo(String, int): the API 24 form
    private fun installTime(): Long = context.packageManager.getPackageInfo(context.packageName, 0).lastUpdateTime

    private fun readText(path: String): String =
        context.assets.open(path).use { it.readBytes().toString(Charsets.UTF_8) }

    companion object {
        const val ROOT = "models"

        fun sha256(file: File): String {
            val digest = MessageDigest.getInstance("SHA-256")
            file.inputStream().use { input ->
                val block = ByteArray(1 shl 20)
                while (true) {
                    val n = input.read(block)
                    if (n < 0) break
                    digest.update(block, 0, n)
                }
            }
            return digest.digest().joinToString("") { "%02x".format(it) }
        }
    }
}
