package dev.edgekit.core

import org.junit.jupiter.api.Assumptions.assumeTrue
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** The golden fixtures of `edgekit android fixtures` (test.sh --fixtures DIR sets -Dedgekit.fixtures). */
object Fixtures {
    private val dir: File? = System.getProperty("edgekit.fixtures")?.let { File(it) }

    fun root(): File {
        assumeTrue(dir != null, "no fixtures given: android_demo/core/test.sh --fixtures DIR (edgekit android fixtures)")
        check(File(dir, "index.json").isFile) { "no index.json in fixtures folder $dir" }
        return dir!!
    }

    val index: Map<*, *> by lazy { Json.parse(File(root(), "index.json").readText()) as Map<*, *> }

    fun list(key: String): List<Map<*, *>> {
        root()  // no fixtures: the test is aborted (reported as skipped), never passed
        return (index[key] as List<*>).map { it as Map<*, *> }
    }

    fun file(rel: Any?): File = File(root(), rel as String)

    fun tolerance(kind: String): Double = ((index["tolerances"] as Map<*, *>)[kind] as Double)

    private val manifests = HashMap<String, Manifest>()

    fun manifest(artifact: String): Manifest = manifests.getOrPut(artifact) {
        val folder = File(root(), "artifacts/$artifact")
        Manifest.parse(File(folder, "manifest.json").readText(), File(folder, "labels.txt").readText())
    }

    fun floats(rel: Any?): FloatArray {
        val buffer = ByteBuffer.wrap(file(rel).readBytes()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
        return FloatArray(buffer.remaining()).also { buffer.get(it) }
    }

    fun bytes(rel: Any?): ByteArray = file(rel).readBytes()

    fun ints(list: Any?): IntArray = (list as List<*>).map { (it as Double).toInt() }.toIntArray()

    /** One line per comparison, so the console shows what was measured (not only pass/fail). */
    fun report(line: String) = println(line)
}
