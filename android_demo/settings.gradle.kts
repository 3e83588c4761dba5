// edgekit android_demo: a camera classifier for edgekit's exported artifacts.
// Modules: core (pure Kotlin: manifest, YUV, rotation, preprocessing, postprocessing; JVM-tested)
// and app (camera2 + the runtimes). Opens in Android Studio; `./gradlew assembleDebug` where the SDK exists.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "edgekit-android-demo"
include(":core", ":app")
