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
