// The app: camera2 preview + ImageReader (YUV_420_888) → core's preprocessing → a Backend chosen by the
// manifest's format. Platform APIs only (no AndroidX, no CameraX), so the same sources also build offline
// with build_offline_apk.sh (ONNX Runtime backend only; see README.md).
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "dev.edgekit.demo"
    compileSdk = libs.versions.compileSdk.get().toInt()

    defaultConfig {
        applicationId = "dev.edgekit.demo"
        minSdk = libs.versions.minSdk.get().toInt()
        targetSdk = libs.versions.targetSdk.get().toInt()
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") }
    }

    sourceSets {
        getByName("main") {
            // LiteRtBackend and ExecuTorchBackend need AARs from Google's Maven / Maven Central, which the
            // offline build cannot reach: they live apart so build_offline_apk.sh can leave them out.
            java.srcDirs("src/main/kotlin", "src/gradleOnly/kotlin")
        }
    }

    androidResources {
        // Models are copied out of the APK once and opened by path: keep them stored, not deflated.
        noCompress += listOf("onnx", "tflite", "pte")
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

// Java 17 bytecode without a toolchain: compiled by the JDK that runs Gradle (Android Studio's bundled JBR is 21),
// so no toolchain resolver or separately installed JDK 17 is needed.
kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.onnxruntime.android)
    implementation(libs.litert)
    implementation(libs.litert.gpu)
    implementation(libs.executorch.android)
}
