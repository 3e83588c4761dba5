// Pure Kotlin (no android.*): the manifest, YUV -> RGB, rotation, preprocessing and postprocessing that must
// agree with edgekit's Python to the last value. `./gradlew :core:test` runs its JVM tests where Gradle is
// available (golden fixtures: `-Pedgekit.fixtures=DIR` from `edgekit android fixtures`; without them the fixture
// tests are skipped). The project's CI runs the same tests without Gradle: core/test.sh (kotlinc + JUnit 5).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

// Java 17 bytecode, compiled by the JDK that runs Gradle: no toolchain, so no resolver or extra JDK is needed.
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
    }
    // src/tool: the JVM-only preprocess tool (image files via javax.imageio) the tests share; not in the app.
    sourceSets.getByName("test").kotlin.srcDir("src/tool/kotlin")
}

dependencies {
    testImplementation(platform(libs.junit.bom))
    testImplementation(libs.junit.jupiter)
    testRuntimeOnly(libs.junit.platform.launcher)
}

tasks.test {
    useJUnitPlatform()
    (project.findProperty("edgekit.fixtures") as String?)?.let { systemProperty("edgekit.fixtures", it) }
}
