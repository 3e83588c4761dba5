"""android_demo's Gradle project as Android Studio or `./gradlew assembleDebug` receives it, checked without the
Android Gradle plugin (which cannot be had here: no Google Maven): the committed wrapper really starts (run with
the JDK against a local file:// distribution, it downloads, unpacks and looks for Gradle's launcher), and the
settings that AGP would refuse are not there. The Gradle build itself has not run here: android_demo/README.md.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "android_demo"


def _catalog() -> dict[str, str]:
    text = (APP / "gradle" / "libs.versions.toml").read_text()
    block = text.split("[versions]", 1)[1].split("[libraries]", 1)[0]
    return dict(re.findall(r'^(\w+)\s*=\s*"([^"]+)"', block, re.M))


def test_the_wrapper_is_committed_and_names_the_pinned_gradle():
    listed = subprocess.run(["git", "ls-files", "-s", "android_demo/gradlew", "android_demo/gradlew.bat",
                             "android_demo/gradle/wrapper/gradle-wrapper.jar",
                             "android_demo/gradle/wrapper/gradle-wrapper.properties"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout.splitlines()
    modes = {line.split()[-1]: line.split()[0] for line in listed}
    assert len(modes) == 4, listed
    assert modes["android_demo/gradlew"] == "100755"      # executable in the repository, not only here
    with zipfile.ZipFile(APP / "gradle" / "wrapper" / "gradle-wrapper.jar") as jar:
        assert "org/gradle/wrapper/GradleWrapperMain.class" in jar.namelist()
    props = (APP / "gradle" / "wrapper" / "gradle-wrapper.properties").read_text()
    assert re.search(r"^distributionUrl=https\\://services\.gradle\.org/distributions/gradle-8\.14\.3-bin\.zip$", props, re.M)


@pytest.mark.skipif(shutil.which("java") is None, reason="no java (scripts/setup.d/30-kotlin-junit.sh installs a JDK)")
def test_gradlew_downloads_unpacks_and_starts_the_distribution_it_names(tmp_path):
    """The real gradlew + gradle-wrapper.jar with the committed properties, only distributionUrl pointed at a
    local zip (no internet here): the wrapper fetches and unpacks it and then looks for Gradle's launcher, which
    this stand-in distribution lacks. Everything the wrapper does before running Gradle has run."""
    project = tmp_path / "project"
    (project / "gradle" / "wrapper").mkdir(parents=True)
    shutil.copy2(APP / "gradlew", project / "gradlew")
    shutil.copy2(APP / "gradle" / "wrapper" / "gradle-wrapper.jar", project / "gradle" / "wrapper")
    dist = tmp_path / "gradle-8.14.3-bin.zip"
    with zipfile.ZipFile(dist, "w") as z:   # folder entries first, as Gradle's own distributions have them
        z.writestr("gradle-8.14.3/", "")
        z.writestr("gradle-8.14.3/lib/", "")
        z.writestr("gradle-8.14.3/lib/README", "a stand-in distribution without Gradle's jars\n")
    props = (APP / "gradle" / "wrapper" / "gradle-wrapper.properties").read_text()
    props = re.sub(r"^distributionUrl=.*$", f"distributionUrl=file\\:{dist}".replace("\\", "\\\\"), props, flags=re.M)
    (project / "gradle" / "wrapper" / "gradle-wrapper.properties").write_text(props)
    home = tmp_path / "gradle-home"
    done = subprocess.run(["./gradlew", "--version"], cwd=project, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "GRADLE_USER_HOME": str(home), "HOME": str(tmp_path)})
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Could not locate the Gradle launcher JAR in Gradle distribution" in out, out[-2000:]
    unpacked = list(home.glob("wrapper/dists/gradle-8.14.3-bin/*/gradle-8.14.3/lib/README"))
    assert len(unpacked) == 1, out[-2000:]


def test_the_settings_agp_would_refuse_are_gone():
    props = (APP / "gradle.properties").read_text()
    assert re.search(r"^android\.useAndroidX=true$", props, re.M)   # ExecuTorch's AAR depends on androidx.core
    for build in ("app/build.gradle.kts", "core/build.gradle.kts", "build.gradle.kts"):
        text = (APP / build).read_text()
        assert "jvmToolchain" not in re.sub(r"//.*", "", text), build
    for build in ("app/build.gradle.kts", "core/build.gradle.kts"):
        assert "JvmTarget.JVM_17" in (APP / build).read_text(), build
    sources = list((APP / "app" / "src").rglob("*.kt"))
    assert sources
    for source in sources:   # LiteRT 2.x: CompiledModel; the 1.x Interpreter/GpuDelegate API must not be imported
        assert "org.tensorflow.lite" not in source.read_text(), source
    lite = (APP / "app/src/gradleOnly/kotlin/dev/edgekit/demo/backend/LiteRtBackend.kt").read_text()
    assert "import com.google.ai.edge.litert.CompiledModel" in lite and "Accelerator.GPU" in lite


def test_every_pinned_version_is_cited_in_the_readme():
    readme = (APP / "README.md").read_text()
    table = readme.split("## Versions and where they were seen", 1)
    assert len(table) == 2, "README.md lacks its version citations"
    cited = table[1].split("\n## ", 1)[0]
    for key, version in _catalog().items():
        if key in ("compileSdk", "targetSdk", "minSdk"):
            continue
        assert f"`{version}`" in cited, f"{key} {version} is not cited in android_demo/README.md"
    assert "`8.14.3`" in cited   # Gradle (the wrapper's distribution)


def test_the_benchmark_activity_only_the_adb_shell_may_start():
    """Exported (adb's `am start` runs as the shell user) but behind android.permission.DUMP, which the shell
    holds (AOSP packages/Shell/AndroidManifest.xml) and no installed app can: otherwise any app could start it."""
    manifest = (APP / "app/src/main/AndroidManifest.xml").read_text()
    manifest = re.sub(r"<!--.*?-->", "", manifest, flags=re.S)
    bench = re.search(r'<activity\s[^>]*android:name="\.BenchmarkActivity"[^>]*>', manifest, re.S)
    assert bench, "BenchmarkActivity is not declared"
    assert 'android:permission="android.permission.DUMP"' in bench.group(0)


def test_open_camera_is_checked_for_the_permission_beside_the_call():
    """Android lint's MissingPermission (an error: `./gradlew lint` fails) wants the check in the calling method."""
    source = (APP / "app/src/main/kotlin/dev/edgekit/demo/CameraController.kt").read_text()
    body = source.split("override fun open(generation: Int)", 1)[1].split("override fun ", 1)[0]
    assert "manager.openCamera(" in body
    check = body.find("checkSelfPermission(Manifest.permission.CAMERA)")
    assert 0 <= check < body.find("manager.openCamera(")
    assert "PackageManager.PERMISSION_GRANTED" in body and "throw SecurityException" in body
