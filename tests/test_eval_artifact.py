"""`edgekit eval` / `edgekit predict` on exported artifact folders, each run in its own runtime."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from edgekit.stats import wilson_interval


def run_cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env)


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson_interval(8, 10)  # 8 of 10: [0.4902, 0.9433]
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    from scipy.stats import binomtest

    for k, n in ((8, 10), (3, 64), (61, 64)):
        reference = binomtest(k, n).proportion_ci(method="wilson")
        assert wilson_interval(k, n) == (pytest.approx(reference.low), pytest.approx(reference.high))
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


@pytest.mark.parametrize("artifact", ["tflite-int8", "executorch-fp32"])
def test_eval_of_an_artifact_reproduces_its_manifests_parity_top1(exported_mobilenet_v2, tmp_path, artifact):
    """Same images as the export's parity check (the run's validation split, the same seeded draw)."""
    folder = exported_mobilenet_v2 / artifact
    manifest = json.loads((folder / "manifest.json").read_text())
    parity = manifest["parity"]
    result = run_cli("eval", folder, "--max-images", parity["num_images"], "--json", "--out", tmp_path / "eval")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["evaluated"] == f"{manifest['format']} {manifest['precision']} artifact"
    assert report["num_images"] == parity["num_images"]
    assert report["top1"] == pytest.approx(parity["artifact_top1"], abs=1e-9)
    low, high = report["top1_ci"]
    assert low < report["top1"] < high and report["top1_ci_method"].startswith("Wilson")
    assert sum(map(sum, report["confusion_matrix"])) == parity["num_images"]
    assert (tmp_path / "eval" / "eval.json").is_file() and (tmp_path / "eval" / "confusion_matrix.png").is_file()


def test_predict_with_an_artifact_prints_top_k_for_real_images(exported_mobilenet_v2, sample_images):
    images = sample_images[::10]  # two real images of two classes
    result = run_cli("predict", exported_mobilenet_v2 / "onnx-int8", *images, "--top-k", 3, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    predictions = json.loads(result.stdout)
    labels = json.loads((exported_mobilenet_v2 / "onnx-int8" / "manifest.json").read_text())["labels"]
    assert [p["image"] for p in predictions] == [str(i) for i in images]
    for prediction in predictions:
        probabilities = [t["probability"] for t in prediction["top"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert all(t["label"] in labels for t in prediction["top"]) and 0 < sum(probabilities) <= 1 + 1e-6
    table = run_cli("predict", exported_mobilenet_v2 / "onnx-int8", images[0], "--top-k", 2)
    assert table.returncode == 0 and "onnx int8 artifact" in table.stdout


def test_eval_refuses_a_changed_artifact_and_a_folder_without_manifest(exported_mobilenet_v2, tmp_path):
    folder = tmp_path / "tflite-fp32"
    shutil.copytree(exported_mobilenet_v2 / "tflite-fp32", folder)
    with open(folder / "model.tflite", "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 1]))
    for args, words in (((folder,), "does not match"), ((tmp_path,), "not an artifact folder")):
        result = run_cli("eval", *args)
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        assert result.returncode == 1 and len(lines) == 1 and words in lines[0], result.stderr
