"""The Android app detects (issue 36): android_demo/core's detection postprocessing against edgekit's Python on a
real detector export, and `edgekit android sync` of a detector.

Real components only: the committed trained detector tests/fixtures/weights/ssdlite_mobilenet_v2.pt exported to ONNX
fp32 (onnxruntime runs it on the fixture images), `edgekit android fixtures` (the raw outputs, Python's
postprocessed boxes, cases made for ties, the threshold, the cut-offs and an empty result), kotlinc 1.9.25 and
Debian's JUnit 5 console (android_demo/core/test.sh): DetectionFixtureTest compares box for box.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.android.sync import sync_assets
from edgekit.errors import EdgekitError
from edgekit.paths import REPO_ROOT

CORE = REPO_ROOT / "android_demo" / "core"
CHECKPOINT = REPO_ROOT / "tests" / "fixtures" / "weights" / "ssdlite_mobilenet_v2.pt"
SAMPLE = REPO_ROOT / "samples" / "detection-fashion"
MODEL = "ssdlite_mobilenet_v2"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector_export(tmp_path_factory) -> Path:
    """The fixture detector exported once for this module: ONNX fp32 only (fast), verified against PyTorch."""
    from edgekit import ExportOptions, export_model

    out = tmp_path_factory.mktemp("android-detector") / "export"
    export_model(ExportOptions(MODEL, checkpoint=str(CHECKPOINT), val=str(SAMPLE), out=str(out), formats=("onnx",),
                               precisions=("fp32",), parity_size=6))
    folder = out / MODEL
    manifest = json.loads((folder / "onnx-fp32" / "manifest.json").read_text())
    assert manifest["task"] == "detection" and manifest["status"] == "verified", manifest.get("status")
    return folder


@pytest.fixture(scope="module")
def detection_fixtures(detector_export, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("android-detector") / "fixtures"
    done = subprocess.run([sys.executable, "-m", "edgekit.cli.main", "android", "fixtures", str(detector_export),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return out


def test_the_fixtures_hold_real_detections_ties_and_an_empty_result(detection_fixtures):
    index = json.loads((detection_fixtures / "index.json").read_text())
    rows = [t for t in index["tensors"] if "detections" in t]
    assert len(rows) >= 16 and all(t["artifact"] == "onnx-fp32" for t in rows)
    assert all(r["detections"]["count"] > 0 for r in rows)  # the trained detector finds something on every image
    cases = {c["name"]: c["detections"] for c in index["detection_cases"]}
    assert cases["empty"]["count"] == 0
    ties = cases["ties_rounded_scores"]
    scores, labels = ties["scores"], ties["labels"]
    # equal scores next to each other, within one class and across classes: the tie rules decide the order
    assert any(a == b and la == lb for a, b, la, lb in zip(scores, scores[1:], labels, labels[1:]))
    assert any(a == b and la != lb for a, b, la, lb in zip(scores, scores[1:], labels, labels[1:]))
    assert cases["ties_rounded_scores_cut"]["count"] == 5  # max_detections cut it
    assert {c["detections"]["resize"] for c in index["detection_cases"]} == {"resize", "letterbox"}


def test_kotlin_core_gives_edgekits_boxes_box_for_box(detection_fixtures, capsys):
    index = json.loads((detection_fixtures / "index.json").read_text())
    done = subprocess.run(["bash", str(CORE / "test.sh"), "--fixtures", str(detection_fixtures)],
                          capture_output=True, text=True, timeout=1200)
    lines = done.stdout.strip().splitlines()
    summary = next((line for line in reversed(lines) if re.fullmatch(r"\d+ passed, \d+ failed", line)), None)
    with capsys.disabled():
        print(f"\nandroid_demo/core JUnit (fixtures from the trained ssdlite_mobilenet_v2 export): {summary}")
    assert summary is not None, done.stdout[-3000:] + done.stderr[-3000:]
    passed, failed = map(int, re.findall(r"\d+", summary))
    assert failed == 0 and done.returncode == 0, "\n".join(l for l in lines if "✘" in l)[-5000:]
    assert "0 tests and 0 test groups skipped" in done.stdout
    detections = [t for t in index["tensors"] if "detections" in t]
    # one JUnit test per real output and per made case, each reported with its numbers, all passed
    for row in detections:
        assert f"detections {row['kind']} {row['image']} -> {row['artifact']} ✔" in done.stdout
    for case in index["detection_cases"]:
        assert f"detection case {case['name']} ✔" in done.stdout
    compared = [l for l in lines if "detections, same order; max |box diff|" in l]
    assert len(compared) == len(detections) + len(index["detection_cases"])
    assert passed >= len(index["tensors"]) + len(detections) + len(index["detection_cases"]) + len(index["yuv"])


def test_sync_bundles_a_detector_for_the_app(detector_export, tmp_path):
    assets = tmp_path / "app" / "src" / "main" / "assets"
    assets.mkdir(parents=True)
    result = sync_assets(detector_export, assets)
    assert result.copied == [f"{MODEL}-onnx-fp32"], result.refused
    copied = assets / "models" / f"{MODEL}-onnx-fp32"
    source = detector_export / "onnx-fp32"
    assert (copied / "model.onnx").read_bytes() == (source / "model.onnx").read_bytes()
    assert json.loads((copied / "manifest.json").read_text()) == json.loads((source / "manifest.json").read_text())


@pytest.mark.parametrize("edit,message", [
    (lambda m: m["preprocessing"].update(resize="center_crop"), "a detector's resize rule is one of resize, letterbox"),
    (lambda m: m["output"].update(shape=[1, m["detection"]["num_anchors"], 10]), "a detector's output must be"),
    (lambda m: m["detection"]["postprocess"].update(max_detections=2.5), "detection.postprocess is not what the app reads"),
    (lambda m: m.update(task="segmentation"), "segmentation"),
])
def test_sync_refuses_a_detector_manifest_the_app_would_refuse(detector_export, tmp_path, edit, message):
    export = Path(shutil.copytree(detector_export, tmp_path / "export" / MODEL))
    path = export / "onnx-fp32" / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    assets = tmp_path / "app" / "src" / "main" / "assets"
    assets.mkdir(parents=True)
    with pytest.raises(EdgekitError, match="nothing in .* that the app can run") as refused:
        sync_assets(export, assets)
    assert message in str(refused.value), str(refused.value)
    assert not (assets / "models").exists()  # nothing copied


BENCH_MAIN = """
import dev.edgekit.demo.BenchRows
import dev.edgekit.demo.BenchRun
import dev.edgekit.demo.BenchStats

fun main(args: Array<String>) {
    val times = doubleArrayOf(10.0, 11.0, 10.5, 10.25, 10.75, 10.1)
    val post = if (args.size < 2) null else args.drop(1).map { it.toDouble() }.toDoubleArray()
    val run = BenchRun(model = "ssdlite_mobilenet_v2", format = "onnx", precision = "fp32", threads = 2,
        device = "adb:SERIAL", runtime = "onnxruntime", runtimeVersion = "1.29.0", delegate = null,
        deviceName = "Pixel", sizeBytes = 12732870L, loadMs = 41.5, firstMs = 12.25, warmup = 2,
        times = times, rounds = BenchStats.roundSizes(times.size, 3), cpuMs = 600.0, wallMs = 300.0,
        peakRssMb = null, extra = mapOf("model_sha256" to args.firstOrNull(), "pid" to 4242), postTimes = post)
    print(BenchRows.document(BenchRows.row(run)))
}
"""


@pytest.fixture(scope="module")
def bench_row_jar(tmp_path_factory) -> Path:
    """The app's BenchStats.kt (its bench row, pure Kotlin) + a main, compiled with kotlinc 1.9.25."""
    import os

    tools = Path(os.environ.get("EDGEKIT_TOOLS", REPO_ROOT / ".tools"))
    kotlinc = tools / "kotlinc19" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"
    if not kotlinc.exists():
        pytest.skip(f"not run: no kotlinc at {kotlinc} (scripts/setup.d/30-kotlin-junit.sh installs it)")
    work = tmp_path_factory.mktemp("detector-bench-row")
    (work / "Main.kt").write_text(BENCH_MAIN)
    jar = work / "bench-row.jar"
    done = subprocess.run([str(kotlinc), "-nowarn", "-include-runtime", "-d", str(jar), str(work / "Main.kt"),
                           str(REPO_ROOT / "android_demo" / "app" / "src" / "main" / "kotlin" / "dev" / "edgekit" / "demo" / "BenchStats.kt")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return jar


def test_a_detectors_app_row_carries_its_nms_time_apart_and_the_host_checks_it(bench_row_jar, detector_export):
    """Not run against a phone: the app's own row code (BenchStats.kt) writes a detector's row; edgekit reads it
    (BenchRow.from_dict) and checks it against the real export's manifest (edgekit.bench.adb.check_app_row)."""
    from types import SimpleNamespace

    import numpy as np

    from edgekit.bench.adb import check_app_row
    from edgekit.bench.rows import ROW_FIELDS, BenchRow
    from edgekit.manifest import read_manifest

    manifest = read_manifest(detector_export / "onnx-fp32")
    post = [0.5, 0.75, 0.25, 1.5, 0.6, 0.55]
    doc = json.loads(subprocess.run(["java", "-jar", str(bench_row_jar), manifest.sha256, *map(str, post[1:])],
                                    capture_output=True, text=True, check=True, timeout=120).stdout)
    (item,) = doc["rows"]
    assert list(item) == ROW_FIELDS  # exactly BenchRow's fields, post_p50_ms and map included, in its order
    row = check_app_row(BenchRow.from_dict(item), manifest, {}, SimpleNamespace(last_pid=None))
    assert row.status == "ok", row.reason
    assert row.post_p50_ms == pytest.approx(float(np.median(post[1:])))  # the NMS's median, apart from p50_ms
    assert row.p50_ms == pytest.approx(10.375) and row.map is None
    # a row without the NMS time (an APK from before detection) is refused for a detector, in one line
    doc = json.loads(subprocess.run(["java", "-jar", str(bench_row_jar)], capture_output=True, text=True,
                                    check=True, timeout=120).stdout)
    stale = BenchRow.from_dict(doc["rows"][0])
    stale.extra["model_sha256"] = manifest.sha256
    stale = check_app_row(stale, manifest, {}, SimpleNamespace(last_pid=None))
    assert stale.status == "failed" and "without post_p50_ms" in stale.reason


def _cli(capsys, *args: str) -> subprocess.CompletedProcess:
    """`edgekit android ARGS` through the real entry point, in-process."""
    from edgekit.cli.main import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["android", *args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, exited.value.code, out, err)


def test_check_compares_the_apps_boxes_with_edgekits_on_real_images(detector_export, detection_fixtures, capsys):
    """`edgekit android check` of a detector: the app's JVM preprocessing and postprocessing against edgekit's on
    images (PNG, JPEG, a camera frame), boxes matched, IoU and score differences reported."""
    from edgekit.android.check import check_images

    names = ["photo_wide.jpg", "photo_341x512.png", "fmnist_bag.png"]
    images = [detection_fixtures / "images" / n for n in names] + [detection_fixtures / "yuv" / "yuv_640x480_nv21_rot90.upright.png"]
    rows = check_images(detector_export, images)
    assert [r.image for r in rows] == [p.name for p in images]
    for row in rows:
        d = row.detection
        assert d is not None and row.agrees, (row.image, d)
        assert d.edgekit_boxes == d.app_boxes == d.matched > 0 and d.confident > 0  # every box, not only the confident
        assert d.mean_iou == pytest.approx(1.0, abs=1e-9) and d.max_score_diff <= 1e-6
    done = _cli(capsys, "check", str(detector_export), *map(str, images))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "4 of 4 (image, artifact) pairs agree" in done.stdout and "boxes matched" in done.stdout


def test_check_tells_boxes_that_differ(detector_export, detection_fixtures):
    """The comparison is not blind: the app's boxes of one image against edgekit's of another do not agree."""
    from edgekit.android.check import _detection_agreement, run_postprocess_tool
    from edgekit.android.runtime import find_artifacts

    index = json.loads((detection_fixtures / "index.json").read_text())
    rows = {t["image"]: t for t in index["tensors"] if "detections" in t}
    (artifact,) = find_artifacts(detector_export)
    wide, bag = rows["photo_wide"], rows["fmnist_bag"]
    app = run_postprocess_tool(artifact.folder / "manifest.json",
                               {"bag": (detection_fixtures / bag["output"], 1024, 683)},
                               detection_fixtures.parent / "check-differs")["bag"]
    import numpy as np

    wide_raw = np.fromfile(detection_fixtures / wide["output"], dtype="<f4")
    match = _detection_agreement(artifact, wide_raw, app, 1024, 683)
    assert not match.agrees and match.confident_matched < match.confident


def test_the_offline_apk_bundles_a_detector_and_the_detection_screen(detector_export, tmp_path):
    """build_offline_apk.sh (real toolchain: kotlinc 1.9.25, ProGuard, dx, apksigner) around a synced detector: the
    APK verifies and holds the detection screen (Detector, BoxOverlay) and core's postprocessing, and the model byte
    for byte. Checked, not run: no phone or emulator here."""
    import hashlib
    import zipfile

    assets = tmp_path / "assets"
    assert sync_assets(detector_export, assets).copied == [f"{MODEL}-onnx-fp32"]
    proc = subprocess.run(["bash", str(REPO_ROOT / "android_demo" / "build_offline_apk.sh"), "--assets", str(assets),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 and "toolchain is incomplete" in proc.stderr:
        pytest.skip(f"not run: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"build_offline_apk.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    apk = Path(re.search(r"^APK: (\S+)", proc.stdout, re.M).group(1))
    verify = subprocess.run(["apksigner", "verify", "--verbose", str(apk)], capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0 and verify.stdout.splitlines()[0] == "Verifies", verify.stderr
    dex = subprocess.run(["dexdump", str(apk)], capture_output=True, text=True, timeout=300).stdout
    classes = set(re.findall(r"Class descriptor\s*: '(L[^;]+;)'", dex))
    for needed in ("Ldev/edgekit/demo/Detector;", "Ldev/edgekit/demo/BoxOverlay;", "Ldev/edgekit/demo/Classifier;",
                   "Ldev/edgekit/core/DetectionPostprocessor;", "Ldev/edgekit/core/BoxMapping;"):
        assert needed in classes, f"{needed} is not in the APK's dex"
    source = detector_export / "onnx-fp32" / "model.onnx"
    with zipfile.ZipFile(apk) as z:
        info = z.getinfo(f"assets/models/{MODEL}-onnx-fp32/model.onnx")
        assert info.compress_type == zipfile.ZIP_STORED
        assert hashlib.sha256(z.read(info)).hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()


def test_the_apps_ort_backend_and_postprocessing_on_the_jvm_give_pythons_boxes(detector_export, detection_fixtures,
                                                                             tmp_path, capsys):
    """The app's chain minus the camera, on the JVM: its OrtBackend.kt (ONNX Runtime 1.29.0, as in the APK; run by
    android_demo/app/ort_jvm.sh) on edgekit's tensors of real images, then core's postprocessing
    (android_demo/core/postprocess.sh) on that output, against Python onnxruntime + edgekit.detection_post."""
    import numpy as np
    import onnxruntime

    from edgekit.android.check import _detection_agreement, run_postprocess_tool
    from edgekit.android.runtime import find_artifacts
    from edgekit.preprocess import load_rgb

    (artifact,) = find_artifacts(detector_export)
    names = ["photo_wide.jpg", "photo_341x512.png", "fmnist_sneaker.png", "photo_grey.jpg"]
    tensors, expected, sizes = [], {}, {}
    for name in names:
        image = detection_fixtures / "images" / name
        tensor = artifact.edgekit_input(image)
        path = tmp_path / "tensors" / f"{image.stem}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(tensor.astype("<f4").tobytes())
        tensors.append(path)
        expected[path.name] = artifact.run_raw(tensor)
        sizes[path.name] = load_rgb(image).size
    done = subprocess.run(["bash", str(REPO_ROOT / "android_demo" / "app" / "ort_jvm.sh"), "--artifact",
                           str(artifact.folder), "--threads", "2", "--out", str(tmp_path / "out"), *map(str, tensors)],
                          capture_output=True, text=True, timeout=900)
    if done.returncode == 4:
        pytest.skip(f"not run: OrtBackend cannot run on the JVM here: {done.stderr.strip()}")
    assert done.returncode == 0 and "runtime onnxruntime 1.29.0" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    outputs, worst = {}, 0.0
    for path in tensors:
        got = np.fromfile(tmp_path / "out" / f"{path.name}.logits", dtype="<f4")
        want = expected[path.name].reshape(-1)
        assert got.shape == want.shape
        worst = max(worst, float(np.max(np.abs(got - want))))
        raw = tmp_path / "jvm-outputs" / path.name
        raw.parent.mkdir(exist_ok=True)
        raw.write_bytes(got.astype("<f4").tobytes())
        outputs[path.name] = (raw, *sizes[path.name])
    assert worst <= 1e-4, f"JVM OrtBackend and Python onnxruntime differ by {worst}"
    apps = run_postprocess_tool(artifact.folder / "manifest.json", outputs, tmp_path / "jvm-detections")
    for path in tensors:
        match = _detection_agreement(artifact, expected[path.name], apps[path.name], *sizes[path.name])
        assert match.agrees and match.confident > 0, (path.name, match)
        assert match.mean_iou > 0.999, (path.name, match)
    with capsys.disabled():
        print(f"\nthe app's OrtBackend (ONNX Runtime 1.29.0, JVM) + core's NMS vs Python onnxruntime "
              f"{onnxruntime.__version__} + edgekit's: {len(tensors)} images, max |output diff| {worst:.3g}, "
              + "; ".join(_detection_agreement(artifact, expected[p.name], apps[p.name], *sizes[p.name]).summary()
                          for p in tensors[:1]))
