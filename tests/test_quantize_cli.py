"""`edgekit quantize`: the sensitivity report through the real entry point, and clean errors on bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from edgekit.checkpoint import load_checkpoint
from edgekit.quantize.sensitivity import weight_layers


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Through a pipe, so rich draws at 80 columns (issue 25: every table reads at that width)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *args], capture_output=True, text=True, timeout=600,
                          env=env)


SENSITIVITY_ARGS = ("--sensitivity", "--max-layers", "3", "--eval-size", "48", "--calib-size", "16")


@pytest.fixture(scope="module")
def default_sensitivity(fixed_run, tmp_path_factory):
    """`edgekit quantize RUN --sensitivity` of the fixed mobilenet_v2 run with the default method: (run, out, result)."""
    run = fixed_run("mobilenet_v2")
    out = tmp_path_factory.mktemp("sensitivity") / "minmax"
    return run, out, run_cli("quantize", str(run.run_dir), *SENSITIVITY_ARGS, "--out", str(out))


@pytest.mark.slow
def test_sensitivity_writes_json_and_plot_and_prints_the_table(default_sensitivity):
    run, out, result = default_sensitivity
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "sensitivity.json").read_text())
    model = load_checkpoint(run.best_checkpoint).build_model()
    assert sorted(layer["name"] for layer in report["layers"]) == sorted(name for name, _ in weight_layers(model)[:3])
    assert report["eval_images"] == 48 and report["calibration_images"] == 16
    assert (out / "sensitivity.png").stat().st_size > 1000
    assert "int8 sensitivity" in result.stdout and report["layers"][0]["name"] in result.stdout
    assert "--keep-float" in result.stdout
    assert "…" not in result.stdout and not result.stderr.strip(), result.stdout + result.stderr  # nothing cut, no chatter


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


def test_unknown_calibration_method_is_a_clean_error_naming_the_choices(fixed_run):
    result = run_cli("quantize", str(fixed_run("mobilenet_v2").run_dir), "--method", "kl-magic", "--calib-size", "4")
    assert result.returncode == 1
    assert "minmax, moving_average, histogram" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def activation_scales(graph) -> list[float]:
    """The scales of a converted PT2E graph's per-tensor (activation) quantize nodes, in graph order."""
    import torch

    target = torch.ops.quantized_decomposed.quantize_per_tensor.default
    return [float(node.args[1]) for node in graph.graph.nodes if node.op == "call_function" and node.target == target]


def test_each_method_calibrates_its_own_activation_scales(fixed_run):
    """The quantizer sensitivity and QAT build from `--method` really observes differently: same
    model, same images, other scales (real torchao observers)."""
    import torch

    from edgekit.quantize.calibration import load_calibration_images
    from edgekit.quantize.pt2e import quantize_pt2e, xnnpack_quantizer

    checkpoint = load_checkpoint(fixed_run("mobilenet_v2").best_checkpoint)
    calibration = load_calibration_images(checkpoint.preprocessing, num_images=16)
    example = torch.from_numpy(calibration[:4])
    scales = {method: activation_scales(quantize_pt2e(checkpoint.build_model(), example, xnnpack_quantizer(method),
                                                      calibration))
              for method in ("minmax", "histogram")}
    assert len(scales["minmax"]) == len(scales["histogram"]) > 0
    assert scales["minmax"] != scales["histogram"]


@pytest.mark.slow
def test_sensitivity_honours_method(default_sensitivity, tmp_path):
    """Through the CLI: the method is recorded and the layers' logit cosines move with it (the 10-class run: the
    tiny 2-class run's logits agree to float32 precision either way). Against the default run (minmax)."""
    run, default_out, default = default_sensitivity
    assert default.returncode == 0, default.stdout + default.stderr
    result = run_cli("quantize", str(run.run_dir), *SENSITIVITY_ARGS, "--method", "histogram",
                     "--out", str(tmp_path / "histogram"))
    assert result.returncode == 0, result.stdout + result.stderr
    reports = {"minmax": json.loads((default_out / "sensitivity.json").read_text()),
               "histogram": json.loads((tmp_path / "histogram" / "sensitivity.json").read_text())}
    assert reports["minmax"]["method"] == "minmax" and reports["histogram"]["method"] == "histogram"
    cosines = {method: {row["name"]: row["cosine"] for row in report["layers"]} for method, report in reports.items()}
    assert cosines["minmax"].keys() == cosines["histogram"].keys()
    assert cosines["minmax"] != cosines["histogram"], "the same logits with either method: --method was ignored"


def test_qat_honours_method(tiny_run, tmp_path):
    """--method reaches both PTQ steps of QAT and its checkpoint's record. One run, with the method that is not the
    default (a QAT run costs a minute here): test_quantize_qat.py pins that the default is minmax."""
    out = tmp_path / "histogram"
    result = run_cli("quantize", str(tiny_run.run_dir), "--qat", "--epochs", "1", "--batch-size", "8",
                     "--calib-size", "16", "--method", "histogram", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "calibrated with histogram" in result.stdout and "calibrated with minmax" not in result.stdout
    assert "…" not in result.stdout and "fp32 (checkpoint)" in result.stdout
    assert load_checkpoint(out / "qat.pt").meta["qat_calibration_method"] == "histogram"
