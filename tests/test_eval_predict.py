"""Evaluation and prediction: metrics on known logits, the eval/predict commands on a real run."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from edgekit.checkpoint import load_checkpoint
from edgekit.data.folder import load_splits
from edgekit.evaluate import evaluate_predictor, plot_confusion_matrix, report_from_logits
from edgekit.stats import softmax, top1_agreement
from edgekit.predictor import TorchPredictor


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit.cli.main", *args], capture_output=True, text=True, timeout=600)


# ----------------------------------------------------------------------------- metrics

def test_report_gives_accuracy_precision_recall_f1_and_confusion_from_logits():
    # true:      0  0  0  1  1  2
    # predicted: 0  0  1  1  1  0
    logits = np.eye(3, dtype=np.float32)[[0, 0, 1, 1, 1, 0]]
    labels = np.array([0, 0, 0, 1, 1, 2])
    report = report_from_logits(logits, labels, ["a", "b", "c"], "known")
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.confusion_matrix.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    a, b, c = report.per_class
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert (b["precision"], b["recall"], b["f1"]) == (pytest.approx(2 / 3), 1.0, pytest.approx(0.8))
    assert (c["precision"], c["recall"], c["f1"]) == (0.0, 0.0, 0.0)
    assert report.macro_recall == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert report.top5_accuracy is None  # fewer than 5 classes
    json.dumps(report.to_dict())  # serialisable as it stands


def test_top5_counts_a_hit_anywhere_in_the_five_best():
    logits = np.tile(np.arange(10, dtype=np.float32), (2, 1))  # ranking 9, 8, 7, 6, 5, ...
    report = report_from_logits(logits, np.array([5, 4]), [str(i) for i in range(10)], "ranked")
    assert report.accuracy == 0.0 and report.top5_accuracy == 0.5


def test_top1_agreement_and_softmax():
    a = np.array([[1, 0], [0, 1], [2, 1]], dtype=np.float32)
    b = np.array([[3, 0], [1, 0], [5, 1]], dtype=np.float32)
    assert top1_agreement(a, b) == pytest.approx(2 / 3)
    np.testing.assert_allclose(softmax(np.array([[0.0, np.log(3.0)]])), [[0.25, 0.75]], rtol=1e-6)


def test_confusion_matrix_plot_grows_with_the_class_count(tmp_path):
    few = plot_confusion_matrix(np.eye(10, dtype=np.int64) * 5, [f"class {i}" for i in range(10)], tmp_path / "10.png")
    many_classes = [f"a long class name {i}" for i in range(60)]
    rng = np.random.default_rng(0)
    many = plot_confusion_matrix(rng.integers(0, 5, (60, 60)), many_classes, tmp_path / "60.png")
    with Image.open(few) as small, Image.open(many) as large:
        assert large.width > 2 * small.width and large.height > 2 * small.height


# ----------------------------------------------------------------------------- on a trained run

@pytest.mark.slow
def test_eval_reproduces_the_runs_best_validation_accuracy(trained_run, tmp_path):
    result = trained_run("mobilenet_v2")
    checkpoint = load_checkpoint(result.best_checkpoint)
    val = load_splits(result.run_dir / "splits").val
    report = evaluate_predictor(TorchPredictor(checkpoint.build_model()), val, checkpoint.labels, checkpoint.preprocessing)
    assert report.accuracy == pytest.approx(result.best_val_acc, abs=1e-9)
    assert report.top5_accuracy >= report.accuracy and report.macro_f1 > 0.5

    done = run_cli("eval", str(result.best_checkpoint), "--out", str(tmp_path / "eval"), "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    written = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert printed["accuracy"] == written["accuracy"] == pytest.approx(result.best_val_acc, abs=1e-9)
    assert printed["num_images"] == len(val) == 500
    assert np.array(written["confusion_matrix"]).sum() == 500
    assert (tmp_path / "eval" / "confusion_matrix.png").stat().st_size > 10_000


@pytest.mark.slow
def test_predict_agrees_with_eval_on_the_same_files(fixed_run):
    result = fixed_run("mobilenet_v2")
    checkpoint = load_checkpoint(result.best_checkpoint)
    val = load_splits(result.run_dir / "splits").val[::25]  # 20 files, two per class
    report = evaluate_predictor(TorchPredictor(checkpoint.build_model()), val, checkpoint.labels, checkpoint.preprocessing)

    done = run_cli("predict", str(result.best_checkpoint), *[str(p) for p, _ in val], "--top-k", "3", "--json")
    assert done.returncode == 0, done.stderr
    predictions = json.loads(done.stdout)
    assert [p["image"] for p in predictions] == [str(path) for path, _ in val]
    assert [p["top"][0]["label"] for p in predictions] == [checkpoint.labels[i] for i in report.predicted]
    probabilities = softmax(report.logits)
    for row, prediction in zip(probabilities, predictions):
        assert len(prediction["top"]) == 3
        assert prediction["top"][0]["probability"] == pytest.approx(float(row.max()), abs=1e-5)
        assert [t["probability"] for t in prediction["top"]] == sorted((t["probability"] for t in prediction["top"]), reverse=True)


def test_predict_prints_a_table_per_image(fixed_run, sample_images):
    checkpoint = str(fixed_run("mobilenet_v2").best_checkpoint)
    done = run_cli("predict", checkpoint, str(sample_images[0]), "--top-k", "2")
    assert done.returncode == 0, done.stderr
    assert sample_images[0].name in done.stdout
    top = json.loads(run_cli("predict", checkpoint, str(sample_images[0]), "--top-k", "2", "--json").stdout)[0]["top"]
    rows = [line for line in done.stdout.splitlines() if any(f"{t['probability']:.4f}" in line for t in top)]
    assert len(rows) == 2  # the table shows exactly the two best labels, best first, with their probabilities
    for row, best in zip(rows, top):
        assert best["label"] in row and f"{best['probability']:.4f}" in row


def test_eval_on_a_raw_class_folder_with_split_all(fixed_run, tiny_data_dir, tmp_path):
    run = fixed_run("mobilenet_v2")
    done = run_cli("eval", str(run.best_checkpoint), "--data", str(tiny_data_dir), "--split", "all",
                   "--out", str(tmp_path / "e"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "e" / "eval.json").read_text())
    labels = load_checkpoint(run.best_checkpoint).labels
    assert report["num_images"] == 40 and report["classes"] == labels  # the folder's 2 classes mapped onto the model's
    support = {row["class"]: row["support"] for row in report["per_class"]}
    assert support["bag"] == support["trouser"] == 20 and sum(support.values()) == 40
    assert "accuracy" in done.stdout
