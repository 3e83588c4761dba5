// Pure Kotlin (no android.*): the manifest, YUV -> RGB, rotation, preprocessing and postprocessing that must
// agree with edgekit's Python to the last value. `./gradlew :core:test` runs its JVM tests where Gradle is
// available; the project's CI runs them without Gradle (kotlinc from npm + Debian's JUnit 5, see README.md).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation(libs.kotlin.test)
}

tasks.test {
    useJUnitPlatform()
}
