"""Bad input to `edgekit export` through the real entry point: a clear message, exit 1, nothing written."""
from __future__ import annotations

import subprocess
import sys

import torch

from edgekit.checkpoint import Checkpoint, save_checkpoint
from edgekit.preprocess import Preprocessing


def run_export(*args: str):
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", "export", *args],
                          capture_output=True, text=True, timeout=300)


def assert_clean_failure(result, message: str) -> None:
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def artifact_folders(out):
    """Artifact folders (format-precision) under OUT, hidden staging folders included."""
    return [p for p in out.rglob("*") if p.is_dir() and ("-fp" in p.name or "-int8" in p.name)] if out.exists() else []


def test_unknown_format_is_refused_before_anything_is_written(tmp_path):
    result = run_export("mobilenet_v2", "--formats", "onnx,caffe", "--out", str(tmp_path / "out"))
    assert_clean_failure(result, "unknown format 'caffe'")
    assert not (tmp_path / "out").exists()


def test_a_precision_the_format_cannot_export_is_refused(tmp_path):
    result = run_export("mobilenet_v2", "--formats", "torchscript", "--int8", "--out", str(tmp_path / "out"))
    assert_clean_failure(result, "torchscript cannot export int8")


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    checkpoint = tmp_path / "resnet.pt"
    save_checkpoint(Checkpoint(model_name="resnet18", num_classes=2, labels=["a", "b"],
                               preprocessing=Preprocessing(img_size=64), state_dict={"w": torch.zeros(1)}), checkpoint)
    result = run_export("mobilenet_v2", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "out"))
    assert_clean_failure(result, "is a resnet18 checkpoint, not mobilenet_v2")
    assert artifact_folders(tmp_path / "out") == []


def test_out_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("not a directory")
    result = run_export("mobilenet_v2", "--formats", "onnx", "--out", str(out))
    assert_clean_failure(result, "is a file")
    assert out.read_text() == "not a directory"


def test_input_size_below_the_models_minimum_is_refused(tmp_path):
    result = run_export("mobilenet_v2", "--img-size", "8", "--out", str(tmp_path / "out"))
    assert_clean_failure(result, "below mobilenet_v2's minimum")
    assert artifact_folders(tmp_path / "out") == []


def test_random_weights_export_says_so_and_records_it(tmp_path):
    import json

    result = run_export("mobilenet_v2", "--formats", "onnx", "--img-size", "64", "--num-classes", "10",
                        "--parity-size", "16", "--out", str(tmp_path / "out"), "--allow-mismatch")
    assert result.returncode == 0, result.stderr
    assert "RANDOM weights" in result.stdout + result.stderr
    manifest = json.loads((tmp_path / "out" / "mobilenet_v2" / "onnx-fp32" / "manifest.json").read_text())
    assert manifest["weights"] == "random"
    assert "weak evidence" in manifest["parity"]["reason"]
