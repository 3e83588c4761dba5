"""`edgekit quantize`: the sensitivity report through the real entry point, and clean errors on bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgekit.checkpoint import load_checkpoint
from edgekit.quantize.sensitivity import weight_layers


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_sensitivity_writes_json_and_plot_and_prints_the_table(trained_run, tmp_path):
    run = trained_run("mobilenet_v2")
    result = run_cli("quantize", str(run.run_dir), "--sensitivity", "--max-layers", "3", "--eval-size", "48",
                     "--calib-size", "16", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "sensitivity.json").read_text())
    model = load_checkpoint(run.best_checkpoint).build_model()
    assert sorted(layer["name"] for layer in report["layers"]) == sorted(name for name, _ in weight_layers(model)[:3])
    assert report["eval_images"] == 48 and report["calibration_images"] == 16
    assert (tmp_path / "sensitivity.png").stat().st_size > 1000
    assert "int8 sensitivity" in result.stdout and report["layers"][0]["name"] in result.stdout
    assert "--keep-float" in result.stdout


def test_missing_checkpoint_is_a_clean_error(tmp_path):
    result = run_cli("quantize", str(tmp_path / "no-such-run"), "--sensitivity")
    assert result.returncode == 1
    assert "checkpoint not found" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_file_that_is_not_a_checkpoint_is_a_clean_error_and_writes_nothing(tmp_path):
    bogus = tmp_path / "run" / "best.pt"
    bogus.parent.mkdir()
    bogus.write_bytes(b"not a checkpoint")
    out = tmp_path / "report"
    result = run_cli("quantize", str(bogus), "--sensitivity", "--out", str(out))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert not out.exists()


def test_unknown_calibration_method_is_a_clean_error_naming_the_choices(tiny_run):
    result = run_cli("quantize", str(tiny_run.run_dir), "--method", "kl-magic", "--calib-size", "4")
    assert result.returncode == 1
    assert "minmax, moving_average, histogram" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
