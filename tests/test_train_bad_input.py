"""Bad input to train/eval/predict: one clear error, exit 1, no traceback, nothing of the user's lost.

Through edgekit.cli.main.main in the test's process (the `cli` fixture: what the `edgekit` script calls, without an
interpreter start and torch import per case); the installed entry point itself is tested in test_cli_models.py
and test_console.py."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from conftest import TINY_MODEL


def assert_clean_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert "error:" in done.stderr
    message = "".join(done.stderr.split())  # rich wraps long lines, even inside a long path
    for fragment in fragments:
        assert "".join(fragment.split()) in message, done.stderr


def tiny_train_args(data: Path, out: Path) -> list[str]:
    return ["train", TINY_MODEL, "--data", str(data), "--out", str(out), "--epochs", "1", "--img-size", "32",
            "--batch-size", "8", "--device", "cpu"]


def test_train_on_a_missing_data_directory_writes_nothing(cli, tmp_path):
    done = cli(*tiny_train_args(tmp_path / "nowhere", tmp_path / "run"))
    assert_clean_error(done, "data directory not found")
    assert not (tmp_path / "run").exists()


def test_train_on_a_single_class_is_refused(cli, tmp_path, sample_images):
    (tmp_path / "data" / "only").mkdir(parents=True)
    for path in sample_images[:5]:
        (tmp_path / "data" / "only" / path.name).write_bytes(path.read_bytes())
    done = cli(*tiny_train_args(tmp_path / "data", tmp_path / "run"))
    assert_clean_error(done, "at least 2")
    assert not (tmp_path / "run").exists()


def test_train_with_an_unknown_model_lists_the_known_ones(cli, tmp_path, tiny_data_dir):
    done = cli("train", "mobilenet_v9", "--data", str(tiny_data_dir), "--out", str(tmp_path / "run"))
    assert_clean_error(done, "unknown model 'mobilenet_v9'", TINY_MODEL)
    assert not (tmp_path / "run").exists()


def test_resume_without_last_checkpoint_is_refused(cli, tmp_path, tiny_data_dir):
    (tmp_path / "run").mkdir()
    done = cli(*tiny_train_args(tiny_data_dir, tmp_path / "run"), "--resume")
    assert_clean_error(done, "cannot resume", "last.pt")
    assert list((tmp_path / "run").iterdir()) == []


@pytest.fixture
def foreign_checkpoint(fixed_run, tmp_path) -> Path:
    """The fixed mobilenet_v2 best.pt claiming 5 classes: its state dict no longer fits the architecture."""
    data = torch.load(fixed_run(TINY_MODEL).best_checkpoint, weights_only=True)
    data["num_classes"] = 5
    data["labels"] = ["a", "b", "c", "d", "e"]
    path = tmp_path / "five_classes.pt"
    torch.save(data, path)
    return path


def test_eval_of_a_checkpoint_whose_weights_do_not_fit_is_refused(cli, foreign_checkpoint, tmp_path, tiny_data_dir):
    done = cli("eval", str(foreign_checkpoint), "--data", str(tiny_data_dir), "--out", str(tmp_path / "e"))
    assert_clean_error(done, "do not match the architecture")
    assert not (tmp_path / "e").exists()


def test_predict_with_a_checkpoint_of_another_architecture_is_refused(cli, fixed_run, tmp_path, sample_images):
    data = torch.load(fixed_run(TINY_MODEL).best_checkpoint, weights_only=True)
    other = next(name for name in ("shufflenet_v2", "squeezenet1_1", "resnet18") if name != TINY_MODEL)
    data["model"] = other
    torch.save(data, tmp_path / "other.pt")
    done = cli("predict", str(tmp_path / "other.pt"), str(sample_images[0]))
    assert_clean_error(done, "do not match the architecture")


def test_a_truncated_checkpoint_is_named_and_left_as_it_was(cli, fixed_run, tmp_path, sample_images):
    whole = fixed_run(TINY_MODEL).best_checkpoint.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole[: len(whole) // 2])
    done = cli("predict", str(cut), str(sample_images[0]))
    assert_clean_error(done, "cut.pt", "not a readable checkpoint")
    done = cli("eval", str(cut), "--out", str(tmp_path / "e"))
    assert_clean_error(done, "not a readable checkpoint")
    assert cut.read_bytes() == whole[: len(whole) // 2] and not (tmp_path / "e").exists()


def test_predict_on_a_file_that_is_not_an_image(cli, fixed_run, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    done = cli("predict", str(fixed_run(TINY_MODEL).best_checkpoint), str(text))
    assert_clean_error(done, "cannot read image", "notes.png")
    assert text.read_text() == "not an image at all"


def test_resume_of_a_run_with_another_model_is_refused(cli, tiny_run, tiny_data_dir):
    other = next(name for name in ("shufflenet_v2", "squeezenet1_1", "resnet18") if name != TINY_MODEL)
    before = tiny_run.last_checkpoint.read_bytes()
    done = cli("train", other, "--out", str(tiny_run.run_dir), "--resume")
    assert_clean_error(done, "cannot resume", TINY_MODEL)
    assert tiny_run.last_checkpoint.read_bytes() == before


@pytest.mark.trains
def test_a_corrupt_image_stops_training_with_its_name_and_no_half_run(cli, tmp_path, tiny_data_dir):
    data = tmp_path / "data"
    for class_dir in tiny_data_dir.iterdir():
        (data / class_dir.name).mkdir(parents=True)
        for path in class_dir.iterdir():
            (data / class_dir.name / path.name).write_bytes(path.read_bytes())
    broken = sorted((data / "bag").iterdir())[0]
    broken.write_bytes(broken.read_bytes()[:40])  # a PNG cut after its header
    done = cli(*tiny_train_args(data, tmp_path / "run"))
    assert_clean_error(done, "cannot read image", broken.name)
    assert not (tmp_path / "run").exists()
