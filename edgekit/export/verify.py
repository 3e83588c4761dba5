"""Parity: every artifact that runs here is compared with the PyTorch model on real images.

Thresholds per precision (docs/manifest.md explains them): top-1 agreement with the PyTorch
model and mean cosine similarity of the logits must both reach the precision's floor; when the
images are labelled, the artifact's top-1 may not fall more than `max_drop` points below PyTorch's.
The drop is reported with a paired 95 % interval; when that interval is wider than the gate, the
result says so (`gate_resolves` false): the images are too few to resolve `max_drop`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgekit.export.options import MAX_PARITY_IMAGES
from edgekit.image_sets import labelled_images
from edgekit.images import seeded_sample
from edgekit.preprocess import Preprocessing
from edgekit.rundir import run_or_sample_splits
from edgekit.stats import mean_cosine, paired_drop_interval, top1_agreement, top1_correct


@dataclass(frozen=True)
class Threshold:
    agreement: float  # fraction of images with the same top-1 class as PyTorch
    cosine: float  # mean cosine similarity of the logits


THRESHOLDS = {
    "fp32": Threshold(agreement=0.99, cosine=0.9999),
    "fp16": Threshold(agreement=0.98, cosine=0.999),
    "int8": Threshold(agreement=0.90, cosine=0.98),
}


@dataclass
class ParityImages:
    images: np.ndarray  # (N, 3, H, W) float32, preprocessed like the checkpoint
    labels: np.ndarray | None  # class indices in the model's label order, or None when unlabelled
    source: str  # where they came from, for the manifest


@dataclass
class Parity:
    status: str  # "passed" | "failed" | "not run" | "not judged"
    reason: str = ""
    num_images: int = 0
    images: str = ""
    agreement: float | None = None
    cosine: float | None = None
    max_abs_diff: float | None = None
    reference_top1: float | None = None  # PyTorch fp32 accuracy (%), labelled images only
    artifact_top1: float | None = None
    drop_points: float | None = None  # PyTorch top-1 minus artifact top-1, points
    drop_interval: list[float] | None = None  # paired 95 % interval of drop_points (docs/manifest.md)
    gate_resolves: bool | None = None  # False: the interval is wider than max_drop on these images
    threshold: dict | None = None
    max_drop: float | None = None
    # a detector's artifact (edgekit.export.detection): judged on COCO mAP, drop_points then in mAP points
    metric: str | None = None  # "map" for a detector; None: top-1
    reference_map: float | None = None  # PyTorch's mAP@[.5:.95] (points) on the parity images
    artifact_map: float | None = None
    matched: float | None = None  # share of PyTorch's boxes matched by the artifact's (same class, IoU >= 0.5)
    mean_iou: float | None = None  # of those matches
    max_score_diff: float | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        return {key: value for key, value in data.items() if value is not None or key not in DETECTION_FIELDS}


DETECTION_FIELDS = ("metric", "reference_map", "artifact_map", "matched", "mean_iou", "max_score_diff")


def parity_images(preprocessing: Preprocessing, model_labels: list[str], *, val_dir: Path | None,
                  checkpoint: Path | None, num_images: int | None = None, seed: int = 0,
                  samples: tuple[list, list[str], str] | None = None) -> ParityImages:
    """Real images: --val DIR, else the run's validation split, else the shipped samples (or `samples`
    given as (list of (path, class index), class names, description)). num_images None = all of them,
    a seeded sample of MAX_PARITY_IMAGES when there are more; a number = a seeded sample of that many."""
    found, classes, source = samples if samples is not None else _labelled_samples(val_dir, checkpoint)
    limit = MAX_PARITY_IMAGES if num_images is None else num_images
    picked = seeded_sample(found, limit, seed)
    how = f"{limit} of {len(found)} images, seed {seed}" if len(picked) < len(found) else f"all {len(found)} images"
    images = preprocessing.load_batch([path for path, _ in picked])
    if all(name in model_labels for name in classes):
        index = {name: i for i, name in enumerate(model_labels)}
        labels = np.array([index[classes[label]] for _, label in picked])
    else:  # the model does not know these classes (e.g. random weights, 1000 classes): agreement only
        labels = None
    return ParityImages(images=images, labels=labels, source=f"{source}, {how}")


def _labelled_samples(val_dir: Path | None, checkpoint: Path | None):
    if val_dir is not None:
        found = labelled_images(val_dir, what="--val")
        return found.samples, found.classes, found.description
    data = run_or_sample_splits(checkpoint)
    return data.splits.val, data.splits.classes, f"{data.description}, validation split"


def compare(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray | None, precision: str,
            max_drop: float, source: str) -> Parity:
    threshold = THRESHOLDS[precision]
    if candidate.shape != reference.shape:
        return Parity(status="failed", reason=f"output shape {candidate.shape} != PyTorch's {reference.shape}",
                      num_images=len(reference), images=source)
    agreement = top1_agreement(candidate, reference)
    cosine = mean_cosine(reference.astype(np.float64), candidate.astype(np.float64))
    result = Parity(status="passed", num_images=len(reference), images=source, agreement=agreement, cosine=cosine,
                    max_abs_diff=float(np.abs(candidate - reference).max()), threshold=asdict(threshold))
    problems = []
    if not np.isfinite(candidate).all():
        problems.append("non-finite outputs")
    if agreement < threshold.agreement:
        problems.append(f"top-1 agreement {agreement:.1%} < {threshold.agreement:.0%}")
    if not cosine >= threshold.cosine:
        problems.append(f"cosine {cosine:.5f} < {threshold.cosine}")
    if labels is not None:
        reference_correct, artifact_correct = top1_correct(reference, labels), top1_correct(candidate, labels)
        result.reference_top1 = 100.0 * float(reference_correct.mean())
        result.artifact_top1 = 100.0 * float(artifact_correct.mean())
        drop, low, high = paired_drop_interval(reference_correct, artifact_correct)
        result.drop_points, result.drop_interval, result.max_drop = drop, [low, high], max_drop
        result.gate_resolves = bool((high - low) / 2 <= max_drop)
        if drop > max_drop:
            problems.append(f"top-1 drops {drop:.1f} points > --max-drop {max_drop}")
    if problems:
        result.status, result.reason = "failed", "; ".join(problems)
    if result.gate_resolves is False:
        low, high = result.drop_interval
        note = (f"the gate cannot resolve: drop {result.drop_points:.1f} points, 95 % interval "
                f"[{low:.1f}, {high:.1f}] (±{(high - low) / 2:.1f}) on {len(reference)} images is wider than "
                f"--max-drop {max_drop}")
        result.reason = f"{result.reason}; {note}" if result.reason else note
    return result

