"""Bad input when a user brings their own model (issue 24): one clear line, exit 1, nothing written.

Each case runs the real resolution (torchvision's builders, timm, torch.export, torch.load) on real files; most
go through the Python API (the same EdgekitError the CLI prints), a few through the entry point to check the
exit code and the single line."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from edgekit import EdgekitError, ExportOptions, Preprocessing, export_model

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def refused(tmp_path: Path, match: str, **options) -> None:
    """export_model refuses with `match` (a regular expression) and writes nothing."""
    out = tmp_path / "out"
    with pytest.raises(EdgekitError, match=match):
        export_model(ExportOptions(out=out, formats=["onnx"], **options))
    assert not out.exists(), sorted(out.rglob("*"))


def test_an_unknown_torchvision_name_is_refused_with_the_nearest_names(tmp_path):
    refused(tmp_path, r"unknown torchvision classification model 'mobilenet_v3_smal'; nearest: .*mobilenet_v3_small",
            model="torchvision:mobilenet_v3_smal")


def test_an_unknown_model_name_points_to_the_zoo_and_the_other_sources(tmp_path):
    refused(tmp_path, r"unknown model 'mobilenetv2'.*nearest: mobilenet_v2.*torchvision:NAME, timm:NAME, or a .pt2",
            model="mobilenetv2")


def test_an_unknown_timm_name_is_refused_with_the_nearest_names(tmp_path):
    pytest.importorskip("timm", reason="timm is the optional extra edgekit[timm]; CI installs it")
    refused(tmp_path, r"unknown timm model 'mobilenetv3_smal_100'; nearest: .*mobilenetv3_small_100",
            model="timm:mobilenetv3_smal_100")


def test_timm_names_without_timm_installed_say_how_to_install_it(tmp_path):
    # the import of timm fails in this child process exactly as on a machine without the extra
    driver = ("import sys; sys.modules['timm'] = None\nfrom edgekit.cli.main import main\n"
              f"main(['export', 'timm:mobilenetv3_small_100', '--out', {str(tmp_path / 'out')!r}])")
    result = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "COLUMNS": "400"})
    one_line_error(result, "timm is not installed", "pip install 'edgekit[timm]'", "timm==1.0.31")
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_a_saved_program_is_refused_and_said_what_it_is(tmp_path, brought_model):
    brought = brought_model("squeezenet1_1")
    noise = tmp_path / "noise.pt2"
    noise.write_bytes(os.urandom(4096))
    refused(tmp_path, r"noise.pt2 is not a program saved with torch.export.save \(not a zip archive", model=str(noise))
    # a state dict (weights without their architecture) named as the model
    refused(tmp_path, r"holds a state dict .* edgekit export torchvision:NAME --weights", model=str(brought.weights))
    # a TorchScript file
    scripted = tmp_path / "scripted.pt"
    torch.jit.trace(brought.module, torch.zeros(1, 3, 64, 64)).save(str(scripted))
    assert zipfile.is_zipfile(scripted)
    refused(tmp_path, r"it is a TorchScript file.*torch.export.save", model=str(scripted))


class Pickled:  # a Python object inside a checkpoint: torch.load(weights_only=True) refuses it
    pass


def test_a_pickle_that_weights_only_refuses_is_named_and_never_unpickled(tmp_path):
    path = tmp_path / "trainer_state.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "trainer": Pickled()}, path)
    refused(tmp_path, r"trainer_state.pth holds Python objects that torch.load\(weights_only=True\) refuses to "
                      r"unpickle \(it pickles .*Pickled\).*torch.save\(model.state_dict\(\), PATH\)",
            model="torchvision:squeezenet1_1", weights=path, img_size=64, **IMAGENET)


def test_a_state_dict_of_another_architecture_names_its_first_mismatching_keys(tmp_path, brought_model):
    refused(tmp_path, r"squeezenet1_1.pth do not match the architecture: \d+ missing \(features.0.0.weight, "
                      r"features.0.1.weight, features.0.1.bias, \.\.\.\); \d+ unexpected \(features.0.weight, "
                      r"features.0.bias, features.3.squeeze.weight, \.\.\.\)",
            model="torchvision:mobilenet_v3_small", weights=brought_model("squeezenet1_1").weights, img_size=64,
            **IMAGENET)


class Features(nn.Module):
    """A backbone without its head: a [1, 8, H, W] feature map, not class scores."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.a, self.b = nn.Linear(8, 4), nn.Linear(8, 2)

    def forward(self, x):
        pooled = self.conv(x).mean((2, 3))
        return self.a(pooled), self.b(pooled)


def test_a_model_whose_output_is_not_one_row_of_class_scores_is_refused(tmp_path):
    refused(tmp_path, r"gives an output of shape \[1, 8, 32, 32\] \(float32\), not \[1, classes\]",
            model=Features(), preprocessing=Preprocessing(32))
    refused(tmp_path, r"returns a tuple, not one tensor of logits \[1, classes\]", model=TwoHeads(),
            preprocessing=Preprocessing(32))


def test_labels_whose_count_differs_from_the_outputs_are_refused(tmp_path, brought_model):
    brought = brought_model("squeezenet1_1")
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nbird\n")
    refused(tmp_path, r"--labels .*labels.txt has 3 labels, the program squeezenet1_1.pt2 gives 10 scores",
            model=str(brought.program), labels=labels, **IMAGENET)
    refused(tmp_path, r"labels has 2 labels, the module TwoHeadsLinear gives 4 scores", model=TwoHeadsLinear(),
            labels=["a", "b"], preprocessing=Preprocessing(32))


class TwoHeadsLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def test_missing_preprocessing_names_the_flags_to_pass(tmp_path, brought_model):
    brought = brought_model("squeezenet1_1")
    # a program carries its input size, not its normalisation
    refused(tmp_path, r"the program squeezenet1_1.pt2 carries no preprocessing \(it carries its input size only\): "
                      r"pass --mean R,G,B --std R,G,B", model=str(brought.program))
    # a state dict for a torchvision architecture carries nothing
    refused(tmp_path, r"torchvision:squeezenet1_1 carries no preprocessing: pass --img-size N --mean R,G,B --std R,G,B",
            model="torchvision:squeezenet1_1", weights=brought.weights)
    # a program's own input size is the truth
    refused(tmp_path, r"--img-size 96 disagrees with the program squeezenet1_1.pt2, saved for 64x64 images",
            model=str(brought.program), img_size=96, **IMAGENET)


class ValueBranch(nn.Module):
    """A Python branch on a tensor's value: torch.export cannot capture it."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, 3)

    def forward(self, x):
        y = self.conv(x).relu()
        if y.mean() > 0.5:
            y = y * 2
        return self.fc(y.mean((2, 3)))


def test_a_model_torch_export_cannot_capture_is_refused_with_its_reason(tmp_path):
    refused(tmp_path, r"torch.export cannot capture the module ValueBranch: \w+: .*data-dependent",
            model=ValueBranch(), preprocessing=Preprocessing(32))


def test_the_cli_prints_one_line_and_writes_nothing(tmp_path, brought_model):
    brought = brought_model("squeezenet1_1")
    out = tmp_path / "out"
    result = run_cli("export", "torchvision:squeezenet1_1", "--weights", str(brought.weights), "--out", str(out))
    one_line_error(result, "carries no preprocessing", "--img-size N --mean R,G,B --std R,G,B")
    result = run_cli("export", str(tmp_path / "missing.pt2"), "--out", str(out))
    one_line_error(result, "model file not found", "missing.pt2")
    assert not out.exists()
    usage = run_cli("export", str(brought.program), "--mean", "0.5,0.5", "--out", str(out))
    assert usage.returncode == 2 and "--mean" in usage.stderr and "three comma-separated numbers" in usage.stderr
    assert not out.exists()
