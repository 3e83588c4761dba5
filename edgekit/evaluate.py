"""Evaluation and prediction through the Predictor protocol: one function for every artifact.

A predictor maps preprocessed float32 NCHW images to logits, so the PyTorch checkpoint and each
exported file (TorchScript, ONNX, TFLite, ExecuTorch) are evaluated by the same code on the
same inputs: `evaluate_predictor(predictor, samples, classes, preprocessing)`.

The stages behind `edgekit eval` and `edgekit predict` (options objects checked when made, values returned,
progress through `on_progress`; the CLI only renders):

    evaluate(EvalOptions(model, data=None, split="val", max_images=None, out=None, batch_size=32)) -> EvalResult
        writes eval.json and confusion_matrix.png into `out` (default: eval-<name>/ beside the model)
    predict(PredictOptions(model, images, top_k=5)) -> PredictResult
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit import contracts, validate
from edgekit.data.folder import Splits, load_splits
from edgekit.errors import EdgekitError
from edgekit.evaluate_options import SPLIT_CHOICES, EvalOptions, PredictOptions  # noqa: F401  (also importable from here)
from edgekit.fileio import atomic_write, atomic_write_text, own_folder, writable_folder
from edgekit.image_sets import labelled_images
from edgekit.images import seeded_sample
from edgekit.paths import SAMPLE_DATA_DIR
from edgekit.predictor import Predictor, TorchPredictor
from edgekit.preprocess import Preprocessing
from edgekit.progress import OnProgress, Reporter, reporter
from edgekit.rundir import RunDir, run_or_sample_splits
from edgekit.stats import (INTERVAL_METHOD, confusion_matrix, softmax, top1_accuracy, top_k_accuracy,
                           wilson_interval)



@dataclass
class EvalReport:
    predictor: str
    classes: list[str]
    num_images: int
    accuracy: float
    top5_accuracy: float | None  # None with fewer than 5 classes
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: list[dict]  # class, precision, recall, f1, support
    confusion_matrix: np.ndarray  # rows: true class, columns: predicted class
    logits: np.ndarray = field(repr=False)  # (N, C), in the order of the samples
    labels: np.ndarray = field(repr=False)  # (N,) true class indices

    @property
    def predicted(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    @property
    def top1_ci(self) -> list[float]:
        """95 % Wilson interval of top-1 accuracy, in percent."""
        low, high = wilson_interval(int(round(self.accuracy * self.num_images)), self.num_images)
        return [100.0 * low, 100.0 * high]

    def to_dict(self) -> dict:
        return {"predictor": self.predictor, "classes": list(self.classes), "num_images": self.num_images,
                "accuracy": self.accuracy, "top1": 100.0 * self.accuracy, "top1_ci": self.top1_ci,
                "top1_ci_method": INTERVAL_METHOD, "top5_accuracy": self.top5_accuracy,
                "macro_precision": self.macro_precision, "macro_recall": self.macro_recall, "macro_f1": self.macro_f1,
                "per_class": self.per_class, "confusion_matrix": self.confusion_matrix.tolist()}


def predict_logits(predictor: Predictor, paths: list[Path], preprocessing: Preprocessing, batch_size: int = 32,
                   on_progress: OnProgress | Reporter | None = None) -> np.ndarray:
    """Logits for image files, loaded in batches (memory stays at one batch of images); progress in images."""
    if not paths:
        raise EdgekitError("no images to run")
    validate.count("--batch-size", batch_size)
    outputs = []
    with reporter(on_progress).task("running the model", len(paths)) as advance:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            outputs.append(predictor(preprocessing.load_batch(chunk)))
            advance(len(chunk))
    return np.concatenate(outputs).astype(np.float32)


def evaluate_predictor(predictor: Predictor, samples: list[tuple[Path, int]], classes: list[str],
                       preprocessing: Preprocessing, batch_size: int = 32,
                       on_progress: OnProgress | Reporter | None = None) -> EvalReport:
    """Accuracy, top-5, macro precision/recall/F1, per-class figures and the confusion matrix."""
    logits = predict_logits(predictor, [p for p, _ in samples], preprocessing, batch_size, on_progress)
    if logits.ndim != 2 or logits.shape[1] != len(classes):
        raise EdgekitError(f"{predictor.name} gives outputs of shape {logits.shape}, expected (N, {len(classes)})")
    return report_from_logits(logits, np.array([label for _, label in samples]), classes, predictor.name)


def report_from_logits(logits: np.ndarray, labels: np.ndarray, classes: list[str], name: str) -> EvalReport:
    predicted = logits.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, len(classes))
    true_positives = np.diag(matrix).astype(np.float64)
    predicted_counts, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted_counts, out=np.zeros_like(true_positives), where=predicted_counts > 0)
    recall = np.divide(true_positives, support, out=np.zeros_like(true_positives), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_positives), where=denominator > 0)
    present = support > 0  # macro averages over the classes that occur in this data
    per_class = [{"class": c, "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                  "support": int(support[i])} for i, c in enumerate(classes)]
    return EvalReport(predictor=name, classes=list(classes), num_images=len(labels),
                      accuracy=top1_accuracy(logits, labels), top5_accuracy=top_k_accuracy(logits, labels, 5),
                      macro_precision=float(precision[present].mean()), macro_recall=float(recall[present].mean()),
                      macro_f1=float(f1[present].mean()), per_class=per_class, confusion_matrix=matrix,
                      logits=logits, labels=labels)


def plot_confusion_matrix(matrix: np.ndarray, classes: list[str], path: Path | str, title: str = "confusion matrix") -> Path:
    """Row-normalised colours (recall per class); readable from 2 to hundreds of classes.

    The figure grows with the class count, tick labels shrink and rotate, and the counts are
    written in the cells only while they still fit (up to 20 classes).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(classes)
    side = min(4 + 0.35 * n, 40)
    row_sums = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, row_sums, out=np.zeros(matrix.shape, dtype=np.float64), where=row_sums > 0)
    figure, axes = plt.subplots(figsize=(side + 1.5, side), dpi=100)
    image = axes.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of the true class")
    tick_size = max(3, min(10, 220 / max(n, 1)))
    axes.set_xticks(range(n), classes, rotation=90 if n > 10 else 45, ha="center" if n > 10 else "right",
                    fontsize=tick_size)
    axes.set_yticks(range(n), classes, fontsize=tick_size)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if n <= 20:
        for row in range(n):
            for col in range(n):
                if matrix[row, col]:
                    axes.text(col, row, str(matrix[row, col]), ha="center", va="center", fontsize=max(5, tick_size - 1),
                              color="white" if normalised[row, col] > 0.5 else "black")
    figure.tight_layout()
    try:
        return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))
    finally:
        plt.close(figure)


# ----------------------------------------------------------------------------- checkpoints

def checkpoint_predictor(checkpoint) -> TorchPredictor:
    return TorchPredictor(checkpoint.build_model(), name=f"pytorch:{checkpoint.model_name}")


def resolve_eval_data(checkpoint_path: Path, data: Path | None, split: str, seed: int = 0) -> tuple[list[tuple[Path, int]], list[str], str]:
    """(samples, dataset classes, description) for `edgekit eval`.

    Without --data: the run's recorded splits beside the checkpoint (so `val` is exactly the
    validation split training selected best.pt on), else the shipped sample set.
    """
    if split not in SPLIT_CHOICES:
        raise EdgekitError(f"unknown split '{split}': use one of {', '.join(SPLIT_CHOICES)}")
    if data is None:
        labelled = run_or_sample_splits(checkpoint_path)
        data = RunDir.of_checkpoint(checkpoint_path).splits_dir if labelled.source == "run" else SAMPLE_DATA_DIR
        splits: Splits = labelled.splits if labelled.source == "run" or seed == 0 else load_splits(data, seed=seed)
    else:
        splits = load_splits(data, seed=seed)
    samples = splits.train + splits.val + splits.test if split == "all" else getattr(splits, split)
    if not samples:
        raise EdgekitError(f"the {split} split of {data} is empty")
    return samples, list(splits.classes), f"{data} ({split}, {len(samples)} images)"


def align_labels(samples: list[tuple[Path, int]], data_classes: list[str], model_labels: list[str]) -> list[tuple[Path, int]]:
    """Map the data's class indices onto the model's by class name; unknown classes are an error."""
    unknown = [c for c in data_classes if c not in model_labels]
    if unknown:
        raise EdgekitError(f"the data has class(es) the model does not know: {', '.join(unknown[:5])}; "
                           f"the model's classes: {', '.join(model_labels[:10])}")
    mapping = {i: model_labels.index(c) for i, c in enumerate(data_classes)}
    return [(path, mapping[label]) for path, label in samples]


@dataclass
class Prediction:
    path: Path
    top: list[tuple[str, float]]  # (label, probability), best first


def predict_images(predictor: Predictor, paths: list[Path], labels: list[str], preprocessing: Preprocessing,
                   top_k: int = 5, batch_size: int = 32, on_progress: OnProgress | Reporter | None = None) -> list[Prediction]:
    probabilities = softmax(predict_logits(predictor, paths, preprocessing, batch_size, on_progress))
    k = max(1, min(top_k, len(labels)))
    predictions = []
    for path, row in zip(paths, probabilities):
        order = np.argsort(-row, kind="stable")[:k]
        predictions.append(Prediction(path=Path(path), top=[(labels[i], float(row[i])) for i in order]))
    return predictions


def labelled_folder(data: Path) -> tuple[list[tuple[Path, int]], list[str], str]:
    """(samples, classes, description) of a labelled folder for `bench --data`: a prepared directory's
    validation split, else every image of a class folder."""
    found = labelled_images(data, "val", "--data")
    return found.samples, found.classes, found.description


@dataclass
class Evaluable:
    """A checkpoint or an exported artifact, ready for eval/predict in its own runtime."""

    predictor: Predictor
    labels: list[str]
    preprocessing: Preprocessing
    model_name: str
    checkpoint: Path | None  # the run checkpoint its default data comes from (None: the shipped samples)
    kind: str  # "checkpoint" or "<format> <precision> artifact"
    default_out: Path
    manifest: dict | None = None


def open_evaluable(path: Path | str) -> Evaluable:
    """A checkpoint file, or an artifact folder from `edgekit export` (its manifest and sha256 checked)."""
    from edgekit.artifacts import open_artifact

    path = Path(path)
    if path.is_dir():
        artifact = open_artifact(path)
        checkpoint = artifact.manifest.source_checkpoint()
        return Evaluable(artifact.predictor(), artifact.labels, artifact.preprocessing, artifact.model, checkpoint,
                         f"{artifact.format} {artifact.precision} artifact", path.parent / f"eval-{path.name}",
                         artifact.manifest)
    from edgekit.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    return Evaluable(checkpoint_predictor(ckpt), ckpt.labels, ckpt.preprocessing, ckpt.model_name, path, "checkpoint",
                     path.parent / f"eval-{path.stem}")


# ----------------------------------------------------------------------------- the stages

@dataclass
class EvalResult:
    report: EvalReport
    document: dict  # what eval.json holds
    model_name: str
    kind: str  # "checkpoint" or "<format> <precision> artifact"
    description: str  # which images
    json_path: Path
    plot_path: Path


def evaluate(options: EvalOptions, on_progress: OnProgress | Reporter | None = None) -> EvalResult:
    """Evaluate a checkpoint or an artifact (in its own runtime); write eval.json (docs/contracts.md) and the
    confusion-matrix plot; return the report. A detector's checkpoint gives edgekit.detection_eval's
    DetectionEvalResult (COCO mAP; its `task` is "detection"). What the runtime and libraries print (LiteRT's delegate line, Python
    warnings) goes to eval.log beside them, never to the console."""
    from edgekit.logcapture import captured, read_back

    from edgekit.detection_eval import checkpoint_task, evaluate_detection, manifest_task

    model = Path(options.model)
    if (model.is_file() and checkpoint_task(model) == "detection") or \
            (model.is_dir() and (model / "manifest.json").is_file() and manifest_task(model) == "detection"):
        return evaluate_detection(options, on_progress)  # COCO mAP instead of top-1 (edgekit.detection_eval)
    say = reporter(on_progress)
    with captured(None) as chatter:
        say.stage("opening the model")
        target = open_evaluable(options.model)
        samples, data_classes, description = resolve_eval_data(target.checkpoint, options.data, options.split)
        if options.max_images is not None and options.max_images < len(samples):
            samples = seeded_sample(samples, options.max_images)
            description = f"{description}, a seeded sample of {options.max_images}"
        samples = align_labels(samples, data_classes, target.labels)
        out = writable_folder(options.out or own_folder(target.default_out, "eval's folder"), "--out")
        report = evaluate_predictor(target.predictor, samples, target.labels, target.preprocessing,
                                    batch_size=options.batch_size, on_progress=say)
        say.stage("plotting the confusion matrix")
        plot_path = plot_confusion_matrix(report.confusion_matrix, target.labels, out / "confusion_matrix.png",
                                          title=f"{target.model_name} ({target.kind}): {description}")
        log_text = read_back(chatter)
    document = {"schema": contracts.EVAL, **report.to_dict(), "model": str(options.model), "evaluated": target.kind,
                "data": description, "checkpoint": str(options.model) if target.kind == "checkpoint" else None}
    json_path = atomic_write_text(out / "eval.json", json.dumps(document, indent=2) + "\n")
    if log_text.strip():
        atomic_write_text(out / "eval.log", log_text)
    return EvalResult(report, document, target.model_name, target.kind, description, json_path, plot_path)


@dataclass
class PredictResult:
    kind: str  # "checkpoint" or "<format> <precision> artifact"
    model_name: str
    predictions: list[Prediction]


def predict(options: PredictOptions, on_progress: OnProgress | Reporter | None = None) -> PredictResult:
    """Top-k labels with probabilities per image, preprocessed exactly as at evaluation time. What the runtime
    prints while it loads and runs (LiteRT's delegate line) is dropped: predict writes no files to keep it in."""
    from edgekit.logcapture import captured

    from edgekit.detection_eval import checkpoint_task, manifest_task

    missing = [p for p in options.images if not p.is_file()]
    if missing:
        raise EdgekitError(f"{missing[0]} is not an image file")
    model = Path(options.model)
    if (model.is_file() and checkpoint_task(model) == "detection") or \
            (model.is_dir() and (model / "manifest.json").is_file() and manifest_task(model) == "detection"):
        from edgekit.detection_predict import predict_detections

        return predict_detections(options, on_progress)  # boxes, and the images with them drawn
    if options.out is not None:
        raise EdgekitError(f"--out draws a detector's boxes; {options.model} is a classifier (its top-k is printed)")
    with captured(None):
        target = open_evaluable(options.model)
        predictions = predict_images(target.predictor, list(options.images), target.labels, target.preprocessing,
                                     top_k=options.top_k, batch_size=options.batch_size, on_progress=on_progress)
    return PredictResult(target.kind, target.model_name, predictions)
