"""The run directory's one owner (edgekit.rundir): what training writes reads back the same, old
runs keep loading, and training reports through events instead of printing."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from conftest import tiny_config
from edgekit.data.folder import load_splits
from edgekit.errors import EdgekitError
from edgekit.preprocess import Preprocessing
from edgekit.rundir import METRIC_COLUMNS, RunDir, recorded_train_config, run_or_sample_splits

EDGEKIT = Path(__file__).resolve().parents[1] / "edgekit"


def split_sets(splits) -> dict:
    return {name: {(Path(p).resolve(), label) for p, label in getattr(splits, name)} for name in ("train", "val", "test")}


def test_what_the_writers_write_the_readers_read_back(tiny_data_dir, tmp_path):
    splits = load_splits(tiny_data_dir, seed=3)
    run = RunDir(tmp_path / "run")
    preprocessing = Preprocessing(img_size=32, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
    run.write_splits(splits)
    run.write_labels(splits.classes)
    run.write_config({"model": "mobilenet_v2", "crop_scale_min": 0.5}, splits.classes, preprocessing, splits)
    run.write_metrics([{column: 1 for column in METRIC_COLUMNS}])

    assert split_sets(run.splits()) == split_sets(splits) and run.splits().classes == splits.classes
    assert not (run.splits_dir / "test.txt").exists()  # an empty test split is not recorded
    assert run.labels_path.read_text().split() == splits.classes
    assert run.preprocessing() == preprocessing
    assert run.train_config() == {"model": "mobilenet_v2", "crop_scale_min": 0.5}
    assert run.read_config()["split_sizes"] == {"train": len(splits.train), "val": len(splits.val), "test": 0}
    assert run.metrics_path.read_text().splitlines()[0] == ",".join(METRIC_COLUMNS)
    labelled = run_or_sample_splits(run.best)  # a checkpoint path beside the recorded splits
    assert labelled.source == "run" and split_sets(labelled.splits) == split_sets(splits)


def test_a_training_run_has_the_layout_rundir_reads(tiny_run):
    run = RunDir(tiny_run.run_dir)
    document = json.loads(run.config_path.read_text())
    assert set(document) == {"schema", "train_config", "classes", "preprocessing", "edgekit_version", "split_sizes", "recipe"}
    assert document["schema"] == "edgekit-run/1"
    assert run.recipe()["warmup_steps"] == document["recipe"]["warmup_steps"]  # what ran, written through rundir
    assert run.train_config()["model"] == document["train_config"]["model"]
    assert (run.best, run.last) == (tiny_run.best_checkpoint, tiny_run.last_checkpoint)
    assert len(run.splits().val) == document["split_sizes"]["val"]


def test_recorded_train_config_falls_back_to_the_checkpoint_meta(tmp_path):
    lone = tmp_path / "elsewhere" / "model.pt"  # no config.json beside it
    assert recorded_train_config(lone, {"train_config": json.dumps({"crop_scale_min": 0.3})}) == {"crop_scale_min": 0.3}
    assert recorded_train_config(lone, {}) == {}


def test_a_folder_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(EdgekitError, match="not an edgekit run"):
        RunDir(tmp_path).read_config()


@pytest.mark.trains
def test_training_reports_through_events_and_prints_nothing(tiny_data_dir, tmp_path, capsys):
    from edgekit.train import Epoch, train

    events = []
    train(tiny_config(tiny_data_dir, tmp_path / "run", epochs=2), on_progress=events.append)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    epochs = [e.data for e in events if e.kind == "result" and isinstance(e.data, Epoch)]
    assert [e.row["epoch"] for e in epochs] == [1, 2] and epochs[0].is_best
    tasks = {e.message for e in events if e.kind == "start"}
    assert {"normalisation statistics (training split)", "epoch 1/2", "epoch 2/2"} <= tasks
    finished = {e.message for e in events if e.kind == "finish"}
    assert finished == tasks


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_later_stage_imports_the_training_module():
    later = [EDGEKIT / "evaluate.py", EDGEKIT / "rundir.py", *sorted((EDGEKIT / "quantize").glob("*.py")),
             *sorted((EDGEKIT / "export").glob("*.py"))]
    offenders = [str(path.relative_to(EDGEKIT)) for path in later
                 if any(name == "edgekit.train" or name.startswith("edgekit.train.") for name in imported_modules(path))]
    assert offenders == []


def test_no_module_is_over_about_400_lines():
    long = {str(p.relative_to(EDGEKIT)): n for p in EDGEKIT.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420}
    assert long == {}
