"""The budget-scaled recipe (edgekit.recipe) and the mirror test (edgekit.data.symmetry).

Pure rules first, then real runs through `python -m edgekit.cli.main` on tiny data (seconds each):
what the run recorded in config.json, that --no-hflip really leaves flips out of the transform,
and that the audit reports the flip recommendation.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw
from torchvision.transforms import v2 as T

from conftest import TINY_MODEL
from edgekit.data.datasets import eval_transform, train_transform
from edgekit.data.folder import load_splits
from edgekit.data.symmetry import mirror_test
from edgekit.preprocess import Preprocessing
from edgekit.recipe import (DEFAULT_CROP_SCALE, FULL_EPOCHS, GENTLE_EPOCHS, WARMUP_FRACTION, auto_crop_scale_min, auto_hflip,
                            auto_warmup_steps, resolve_recipe)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def tiny_train(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_cli("train", TINY_MODEL, "--data", data, "--out", out, "--epochs", "2", "--img-size", "32",
                   "--batch-size", "8", "--device", "cpu", *extra)


def recorded(out: Path) -> dict:
    return json.loads((out / "config.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- pure rules

@pytest.mark.parametrize("epochs", [1, 2, 4, 8, 12, 30, 100])
@pytest.mark.parametrize("steps_per_epoch", [1, 5, 31, 200])
def test_auto_warmup_is_a_fraction_of_the_run_capped_at_one_epoch(epochs, steps_per_epoch):
    steps = auto_warmup_steps(epochs, steps_per_epoch)
    assert 0 <= steps <= steps_per_epoch
    assert steps == min(steps_per_epoch, round(WARMUP_FRACTION * epochs * steps_per_epoch))
    if epochs * WARMUP_FRACTION >= 1:  # long runs keep the former default of exactly one epoch
        assert steps == steps_per_epoch


def test_short_runs_warm_up_for_less_than_an_epoch():
    assert auto_warmup_steps(4, 31) < 31
    assert auto_warmup_steps(2, 31) < auto_warmup_steps(4, 31)


def test_crop_strength_grows_with_the_epochs_up_to_the_long_run_default():
    values = [auto_crop_scale_min(e) for e in range(1, FULL_EPOCHS + 10)]
    assert all(a >= b for a, b in zip(values, values[1:])), values  # never stronger for a shorter run
    assert auto_crop_scale_min(GENTLE_EPOCHS) == 1.0  # short runs: no random crop
    assert auto_crop_scale_min(FULL_EPOCHS) == DEFAULT_CROP_SCALE[0]  # long runs: unchanged default
    assert auto_crop_scale_min(3 * FULL_EPOCHS) == DEFAULT_CROP_SCALE[0]
    middle = auto_crop_scale_min((GENTLE_EPOCHS + FULL_EPOCHS) // 2)
    assert DEFAULT_CROP_SCALE[0] < middle < 1.0


def test_auto_flip_needs_a_longer_run_and_a_mirror_test_that_does_not_object():
    for verdict in (True, False, None):
        assert auto_hflip(GENTLE_EPOCHS, verdict) is False  # short runs: no augmentation at all
    assert auto_hflip(GENTLE_EPOCHS + 1, True) is True
    assert auto_hflip(GENTLE_EPOCHS + 1, None) is True  # no verdict: the long-standing default
    assert auto_hflip(FULL_EPOCHS, False) is False  # mirrored images look like other classes


def test_explicit_values_win_over_the_rule_and_say_so():
    auto = resolve_recipe(epochs=2, steps_per_epoch=10, dataset_size=80, mirror_keeps_class=True)
    assert (auto.warmup_source, auto.crop_source, auto.hflip_source) == ("auto", "auto", "auto")
    assert auto.hflip is False and auto.crop_scale == (1.0, 1.0)
    user = resolve_recipe(epochs=2, steps_per_epoch=10, dataset_size=80, warmup_epochs=1.5, crop_scale_min=0.2,
                          hflip=True, mirror_keeps_class=False)
    assert user.warmup_steps == 15 and user.crop_scale == (0.2, 1.0) and user.hflip is True
    assert (user.warmup_source, user.crop_source, user.hflip_source) == ("user", "user", "user")
    long_auto = resolve_recipe(epochs=FULL_EPOCHS, steps_per_epoch=10, dataset_size=80, mirror_keeps_class=False)
    assert long_auto.hflip is False and long_auto.crop_scale == DEFAULT_CROP_SCALE
    assert long_auto.warmup_steps == auto_warmup_steps(FULL_EPOCHS, 10)


# ----------------------------------------------------------------------------- the transform

def _asymmetric_image() -> Image.Image:
    image = Image.new("RGB", (32, 32), (0, 0, 0))
    ImageDraw.Draw(image).rectangle((2, 4, 12, 28), fill=(255, 255, 255))  # a bar on the left only
    return image


def _outputs(transform, n: int = 40) -> list[torch.Tensor]:
    torch.manual_seed(0)
    image = _asymmetric_image()
    return [transform(image) for _ in range(n)]


def test_no_hflip_removes_the_flip_and_crop_one_is_the_evaluation_geometry():
    pre = Preprocessing(img_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), resize="center_crop")
    expected = eval_transform(pre)(_asymmetric_image())
    with_flip = train_transform(pre, (1.0, 1.0), hflip=True)
    without = train_transform(pre, (1.0, 1.0), hflip=False)
    assert any(isinstance(t, T.RandomHorizontalFlip) for t in with_flip.transforms)
    assert not any(isinstance(t, T.RandomHorizontalFlip) for t in without.transforms)
    flipped = [torch.equal(x, torch.flip(expected, dims=[2])) for x in _outputs(with_flip)]
    assert any(flipped) and not all(flipped)  # the flip is live: some outputs are mirrored, some not
    assert all(torch.equal(x, expected) for x in _outputs(without))  # no flip, no crop: eval input exactly


# ----------------------------------------------------------------------------- mirror test data

def _shapes_dir(root: Path, kind: str, per_class: int = 16) -> Path:
    """Two classes drawn with PIL: 'arrows' (left- vs right-pointing triangles, each the other's
    mirror image) or 'symmetric' (vertical vs horizontal bars, both unchanged by a mirror)."""
    rng = random.Random(0)
    names = ("left", "right") if kind == "arrows" else ("vbar", "hbar")
    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = Image.new("L", (32, 32), 0)
            draw = ImageDraw.Draw(image)
            cx, cy, r = 16 + rng.randint(-2, 2), 16 + rng.randint(-2, 2), rng.randint(8, 12)
            if name == "left":
                draw.polygon([(cx - r, cy), (cx + r, cy - r), (cx + r, cy + r)], fill=255)
            elif name == "right":
                draw.polygon([(cx + r, cy), (cx - r, cy - r), (cx - r, cy + r)], fill=255)
            elif name == "vbar":
                draw.rectangle((16 - 3, cy - r, 16 + 3, cy + r), fill=255)
            else:
                draw.rectangle((cx - r, cy - 3, cx + r, cy + 3), fill=255)
            image.save(root / name / f"{i:03d}.png")
    return root


def test_mirror_test_tells_mirror_classes_from_symmetric_ones(tmp_path):
    arrows = load_splits(_shapes_dir(tmp_path / "arrows", "arrows"), val_fraction=0.25, seed=0)
    verdict = mirror_test(arrows.train, arrows.classes)
    assert verdict.accuracy > 0.9 and verdict.mirrored_accuracy < 0.1 and verdict.keeps_class is False
    assert verdict.confused == {"left": "right", "right": "left"}
    shapes = load_splits(_shapes_dir(tmp_path / "symmetric", "symmetric"), val_fraction=0.25, seed=0)
    assert mirror_test(shapes.train, shapes.classes).keeps_class is True


# ----------------------------------------------------------------------------- through the CLI

@pytest.mark.trains
def test_a_two_epoch_run_records_the_auto_recipe(tmp_path, tiny_data_dir):
    out = tmp_path / "run"
    done = tiny_train(tiny_data_dir, out)
    assert done.returncode == 0, done.stdout + done.stderr
    document = recorded(out)
    assert document["train_config"]["warmup_epochs"] is None  # the user's choice: auto
    assert document["train_config"]["hflip"] is None and document["train_config"]["crop_scale_min"] is None
    recipe = document["recipe"]
    steps = recipe["steps_per_epoch"]
    assert steps == document["split_sizes"]["train"] // 8  # drop_last batches of 8
    assert recipe["warmup_steps"] == auto_warmup_steps(2, steps) and recipe["warmup_steps"] < steps
    assert recipe["crop_scale"] == [auto_crop_scale_min(2), 1.0] == [1.0, 1.0]
    assert recipe["hflip"] is False and recipe["mirror_test"] is None  # a short run: no flips, nothing to measure
    assert (recipe["warmup_source"], recipe["crop_source"], recipe["hflip_source"]) == ("auto", "auto", "auto")


@pytest.mark.trains
def test_explicit_flags_win_and_are_recorded(tmp_path, tiny_data_dir):
    out = tmp_path / "run"
    done = tiny_train(tiny_data_dir, out, "--warmup-epochs", "1", "--crop-scale-min", "0.5", "--no-hflip")
    assert done.returncode == 0, done.stdout + done.stderr
    document = recorded(out)
    recipe = document["recipe"]
    assert recipe["warmup_steps"] == recipe["steps_per_epoch"] and recipe["crop_scale"] == [0.5, 1.0]
    assert recipe["hflip"] is False and recipe["mirror_test"] is None  # not measured when the user chose
    assert (recipe["warmup_source"], recipe["crop_source"], recipe["hflip_source"]) == ("user", "user", "user")
    assert document["train_config"]["hflip"] is False


@pytest.mark.trains
@pytest.mark.parametrize("kind, flips", [("arrows", False), ("symmetric", True)])
def test_in_a_longer_run_the_mirror_test_decides_the_flip(tmp_path, kind, flips):
    data = _shapes_dir(tmp_path / kind, kind, per_class=12)
    epochs = str(GENTLE_EPOCHS + 1)
    done = run_cli("train", TINY_MODEL, "--data", data, "--out", tmp_path / "run", "--epochs", epochs, "--img-size", "32",
                   "--batch-size", "8", "--device", "cpu")
    assert done.returncode == 0, done.stdout + done.stderr
    recipe = recorded(tmp_path / "run")["recipe"]
    assert recipe["hflip"] is flips and recipe["hflip_source"] == "auto"
    assert recipe["mirror_test"]["keeps_class"] is flips
    assert recipe["crop_scale"][0] == auto_crop_scale_min(int(epochs)) < 1.0  # past the short runs: gentle crops


@pytest.mark.parametrize("flag, value, message", [("--crop-scale-min", "0", "--crop-scale-min must be in (0, 1]"),
                                                  ("--warmup-epochs", "-1", "--warmup-epochs must be >= 0")])
def test_bad_recipe_values_are_refused_cleanly(tmp_path, tiny_data_dir, flag, value, message):
    done = tiny_train(tiny_data_dir, tmp_path / "run", flag, value)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert message in " ".join(done.stderr.split())
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind, keeps, advice", [("arrows", False, "--no-hflip"), ("symmetric", True, "--hflip")])
def test_the_audit_reports_the_flip_recommendation(tmp_path, kind, keeps, advice):
    data = _shapes_dir(tmp_path / kind, kind)
    done = run_cli("data", "audit", data, "--out", tmp_path / "audit")
    assert done.returncode == 0, done.stdout + done.stderr
    entry = json.loads((tmp_path / "audit" / "audit.json").read_text(encoding="utf-8"))["mirror_test"]
    assert entry["keeps_class"] is keeps and advice in entry["recommendation"]
    assert "mirror test" in done.stdout and advice in " ".join(done.stdout.split())
