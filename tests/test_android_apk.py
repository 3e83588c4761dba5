"""The app compiles here too: android_demo/build_offline_apk.sh builds a signed debug APK (core + app + the
ONNX Runtime backend) with the offline toolchain, around a real `edgekit android sync` of the trained
mobilenet_v2's export, and the APK passes the checks a phone applies (apksigner verify, zipalign -c) and says
what it is (aapt dump badging, dexdump). Skipped, with the reason, only where scripts/setup.d/40-android-offline.sh
has not installed the toolchain. No device or emulator exists here: the APK is checked, not run.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from edgekit.android.sync import sync_assets

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "android_demo"
SCRIPT = APP / "build_offline_apk.sh"
SYNCED = ["onnx-int8", "tflite-int8"]   # tflite: bundled too, though this APK has no LiteRT backend


def _catalog(key: str) -> str:
    text = (APP / "gradle" / "libs.versions.toml").read_text()
    return re.search(rf'^{key}\s*=\s*"([^"]+)"', text, re.M).group(1)


@pytest.fixture(scope="module")
def built(exported_mobilenet_v2, tmp_path_factory):
    work = tmp_path_factory.mktemp("offline-apk")
    assets = work / "assets"
    synced = sync_assets(exported_mobilenet_v2, assets, only=SYNCED)
    proc = subprocess.run(["bash", str(SCRIPT), "--assets", str(assets), "--out", str(work / "out")],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 and "toolchain is incomplete" in proc.stderr:
        pytest.skip(f"not run: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"build_offline_apk.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    apk = Path(re.search(r"^APK: (\S+)", proc.stdout, re.M).group(1))
    assert apk.is_file()
    return apk, proc.stdout, synced


def _run(*cmd: str) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}"
    return proc.stdout


@pytest.mark.slow
def test_offline_apk_is_signed_aligned_and_declares_the_app(built):
    apk, log, _ = built
    verify = _run("apksigner", "verify", "--verbose", str(apk))
    assert verify.splitlines()[0] == "Verifies"
    assert "Verified using v2 scheme (APK Signature Scheme v2): true" in verify
    _run("zipalign", "-c", "-p", "4", str(apk))

    badging = _run("aapt", "dump", "badging", str(apk))
    assert re.search(r"^package: name='dev\.edgekit\.demo' versionCode='\d+' versionName='[^']+'", badging, re.M)
    assert re.search(r"^sdkVersion:'24'$", badging, re.M)
    assert re.search(rf"^targetSdkVersion:'{_catalog('targetSdk')}'$", badging, re.M)
    assert "launchable-activity: name='dev.edgekit.demo.MainActivity'" in badging
    assert "uses-permission: name='android.permission.CAMERA'" in badging
    assert re.search(r"^native-code: 'arm64-v8a'$", badging, re.M)
    assert "launchable-activity: name='dev.edgekit.demo.MainActivity'" in log   # the script ran its own checks

    manifest = _run("aapt", "dump", "xmltree", str(apk), "AndroidManifest.xml")
    assert '".BenchmarkActivity"' in manifest   # the benchmark mode's activity is declared (exported for adb)
    bench = manifest.split('".BenchmarkActivity"', 1)[1].split("E: ", 1)[0]
    assert 'android:permission(0x01010006)="android.permission.DUMP"' in bench   # only the adb shell may start it


@pytest.mark.slow
def test_offline_apk_holds_core_app_ort_and_the_synced_models(built, exported_mobilenet_v2):
    apk, _, synced = built
    classes = set(re.findall(r"Class descriptor\s*: '(L[^;]+;)'", _run("dexdump", str(apk))))
    for needed in ("Ldev/edgekit/demo/MainActivity;", "Ldev/edgekit/demo/BenchmarkActivity;",
                   "Ldev/edgekit/demo/CameraController;", "Ldev/edgekit/demo/backend/OrtBackend;",
                   "Ldev/edgekit/core/Manifest;", "Ldev/edgekit/core/Preprocessor;", "Ldev/edgekit/core/Yuv;",
                   "Lai/onnxruntime/OrtSession;", "Lkotlin/jvm/internal/Intrinsics;"):
        assert needed in classes, f"{needed} is not in the APK's dex"
    # The LiteRT and ExecuTorch backends are left out of the offline build (their AARs cannot be had here).
    assert not any("LiteRtBackend" in c or "ExecuTorchBackend" in c for c in classes)

    with zipfile.ZipFile(apk) as z:
        entries = {info.filename: info for info in z.infolist()}
        for lib in ("libonnxruntime.so", "libonnxruntime4j_jni.so"):
            info = entries[f"lib/arm64-v8a/{lib}"]
            assert info.compress_type == zipfile.ZIP_STORED and info.file_size > 0
        assert sorted(synced.copied) == ["mobilenet_v2-onnx-int8", "mobilenet_v2-tflite-int8"]
        for folder in SYNCED:
            source = exported_mobilenet_v2 / folder
            name = f"mobilenet_v2-{folder}"
            model_file = json.loads((source / "manifest.json").read_text())["file"]
            info = entries[f"assets/models/{name}/{model_file}"]
            assert info.compress_type == zipfile.ZIP_STORED   # stored: the app copies it out once, by path
            assert hashlib.sha256(z.read(info)).hexdigest() == hashlib.sha256((source / model_file).read_bytes()).hexdigest()
            for extra in ("manifest.json", "labels.txt"):
                assert z.read(f"assets/models/{name}/{extra}") == (source / extra).read_bytes()


BENCH_MAIN = """
import dev.edgekit.demo.BenchRows
import dev.edgekit.demo.BenchRun
import dev.edgekit.demo.BenchStats

fun main(args: Array<String>) {
    val times = args.map { it.toDouble() }.toDoubleArray()
    val run = BenchRun(model = "mobilenet_v2", format = "onnx", precision = "int8", threads = 4,
        device = "adb:SERIAL", runtime = "onnxruntime", runtimeVersion = "1.29.0", delegate = null,
        deviceName = "Pixel \\"8\\"", sizeBytes = 3621542L, loadMs = 41.5, firstMs = 12.25, warmup = 5,
        times = times, rounds = BenchStats.roundSizes(times.size, 3), cpuMs = 900.0, wallMs = 300.0,
        peakRssMb = null, extra = mapOf("abi" to "arm64-v8a", "sdk" to 34))
    print(BenchRows.document(BenchRows.row(run)))
}
"""


@pytest.fixture(scope="module")
def bench_row_jar(tmp_path_factory):
    """BenchStats.kt (the app's row and statistics, pure Kotlin) + a main, compiled with kotlinc 1.9.25."""
    import os

    tools = Path(os.environ.get("EDGEKIT_TOOLS", REPO / ".tools"))
    kotlinc = tools / "kotlinc19" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"
    if not kotlinc.exists():
        pytest.skip(f"not run: no kotlinc at {kotlinc} (scripts/setup.d/30-kotlin-junit.sh installs it)")
    work = tmp_path_factory.mktemp("bench-row")
    (work / "Main.kt").write_text(BENCH_MAIN)
    jar = work / "bench-row.jar"
    _run(str(kotlinc), "-nowarn", "-include-runtime", "-d", str(jar), str(work / "Main.kt"),
         str(APP / "app" / "src" / "main" / "kotlin" / "dev" / "edgekit" / "demo" / "BenchStats.kt"))
    return jar


@pytest.mark.slow
@pytest.mark.parametrize("times, wide", [
    ([10.0, 11.5, 9.75, 10.25, 30.0, 10.5, 10.0, 9.9, 25.0, 10.1], True),    # two outliers: p90/p50 wide
    ([5.0, 5.1, 5.2, 5.05, 7.0, 7.1, 7.2, 7.05, 7.3], True),                 # later rounds slower: drift
    ([4.0, 4.1, 3.9, 4.05, 4.0, 3.95], False),
    ([3.0], False),
])
def test_benchmark_row_has_the_bench_row_fields_and_hosts_statistics(bench_row_jar, times, wide):
    import numpy as np

    from edgekit.bench.rows import BENCH_SCHEMA, ROW_FIELDS, BenchRow

    doc = json.loads(_run("java", "-jar", str(bench_row_jar), *map(str, times)))
    assert doc["schema"] == BENCH_SCHEMA
    (row,) = doc["rows"]
    assert list(row) == ROW_FIELDS                        # exactly BenchRow's fields, in its order
    assert BenchRow.from_dict(row).to_dict() == row
    t = np.asarray(times)
    for key, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99)):
        assert row[key] == pytest.approx(float(np.percentile(t, q)), abs=1e-12)
    assert row["mean_ms"] == pytest.approx(float(t.mean()), abs=1e-12)
    assert row["std_ms"] == pytest.approx(float(t.std(ddof=1)) if len(t) > 1 else 0.0, abs=1e-12)
    assert row["min_ms"] == min(times) and row["iterations"] == len(times)
    assert row["throughput_ips"] == pytest.approx(1000.0 / t.mean())
    assert row["cpu_per_wall"] == pytest.approx(3.0) and row["device_name"] == 'Pixel "8"'
    assert row["artifact"] == "onnx-int8" and row["source"] == "android_demo" and row["speedup"] is None
    rounds = np.array_split(t, min(3, len(t)))            # numpy splits as the host bench does: first rounds longer
    medians = [float(np.median(r)) for r in rounds]
    assert row["extra"]["round_medians_ms"] == pytest.approx([round(m, 4) for m in medians])
    wide_p90 = np.percentile(t, 90) / np.percentile(t, 50) > 1.5
    drift = max(medians) / min(medians) > 1.3
    assert row["wide_spread"] == bool(wide_p90 or drift) == wide
    assert (row["reason"] is None) == (not row["wide_spread"])
    assert row["extra"]["abi"] == "arm64-v8a" and row["extra"]["sdk"] == 34
