"""Bad input to `edgekit export` through the real entry point: a clear message, exit 1, nothing written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgekit.checkpoint import Checkpoint, save_checkpoint
from edgekit.preprocess import Preprocessing
from conftest import TINY_MODEL


def run_export(*args: str):
    # a narrow terminal, so a message that rich hard-wraps would break the assertions below
    env = {**os.environ, "COLUMNS": "40"}
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", "export", *args],
                          capture_output=True, text=True, timeout=300, env=env)


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
    # the suggested command must survive the narrow terminal in one piece, ready to paste
    assert f"edgekit export resnet18 --checkpoint {checkpoint}" in result.stderr
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


def test_out_that_is_not_writable_is_refused(tmp_path):
    if os.geteuid() == 0:  # root ignores permission bits; sysfs refuses new directories even to root
        out = Path("/sys/fs/edgekit-export-test")
        if os.access("/sys/fs", os.W_OK) and out.parent.is_dir() and _can_mkdir(out):
            pytest.skip("running as root on a host whose /sys/fs accepts new directories: nothing here is unwritable")
    else:
        out = tmp_path / "read-only"
        out.mkdir()
        out.chmod(0o500)
    result = run_export("mobilenet_v2", "--formats", "onnx", "--out", str(out))
    assert_clean_failure(result, "cannot write to --out")
    assert not (out / "mobilenet_v2").exists()


def _can_mkdir(path: Path) -> bool:
    try:
        path.mkdir()
    except OSError:
        return False
    path.rmdir()
    return True


def test_a_truncated_checkpoint_is_refused(tmp_path, fixed_run):
    truncated = tmp_path / "best.pt"
    data = fixed_run(TINY_MODEL).best_checkpoint.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    result = run_export(TINY_MODEL, "--checkpoint", str(truncated), "--out", str(tmp_path / "out"))
    assert_clean_failure(result, str(truncated))
    assert artifact_folders(tmp_path / "out") == []


# A model torch.export cannot capture (a Python branch on a tensor's value), registered in the
# child process only: the real converters fail on it, which is the crash the export must survive.
CRASHING_MODEL_DRIVER = '''
import sys
from torch import nn
from edgekit.models.registry import register_model


class ValueBranch(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        y = self.conv(x).relu()
        if y.mean() > 0.5:
            y = y * 2
        return self.head(y.mean(dim=(2, 3)))


register_model("value_branch", default_img_size=32, min_img_size=32, options=(), paper="test only",
               published_top1=None, paper_params_m=None, paper_macs_m=None)(ValueBranch)

from edgekit.cli.main import main
sys.argv = ["edgekit", *sys.argv[1:]]
main()
'''


def test_a_converter_crash_is_a_table_row_and_leaves_no_partial_or_stale_artifact(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(CRASHING_MODEL_DRIVER)
    out = tmp_path / "out"
    stale = out / "value_branch" / "onnx-fp32"  # what an earlier, successful export left
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"an older model")
    (stale / "manifest.json").write_text("{}")

    result = subprocess.run([sys.executable, str(driver), "export", "value_branch", "--formats", "onnx,executorch",
                             "--num-classes", "3", "--out", str(out)], capture_output=True, text=True, timeout=600)

    assert_clean_failure(result, "2 artifact(s) failed (onnx-fp32, executorch-fp32)")
    summary = json.loads((out / "value_branch" / "summary.json").read_text())
    rows = {row["format"]: row for row in summary["artifacts"]}
    assert {row["status"] for row in rows.values()} == {"failed to export"}
    assert "torch.export" in rows["onnx"]["reason"] and "\x1b" not in rows["onnx"]["reason"]
    assert "data-dependent" in rows["executorch"]["reason"]
    assert "\n" not in rows["executorch"]["reason"] and len(rows["executorch"]["reason"]) <= 240
    # the stale artifact would look current beside a summary saying it failed: it is gone
    assert sorted(p.name for p in (out / "value_branch").iterdir()) == ["export.log", "summary.json"]
