"""Parity: every artifact that runs here is compared with the PyTorch model on real images.

Thresholds per precision (docs/manifest.md explains them): top-1 agreement with the PyTorch
model and mean cosine similarity of the logits must both reach the precision's floor; when the
images are labelled, the artifact's top-1 may not fall more than `max_drop` points below PyTorch's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgekit.data.folder import is_prepared, load_splits, scan_image_folder
from edgekit.errors import EdgekitError
from edgekit.paths import SAMPLE_DATA_DIR
from edgekit.preprocess import Preprocessing


@dataclass(frozen=True)
class Threshold:
    agreement: float  # fraction of images with the same top-1 class as PyTorch
    cosine: float  # mean cosine similarity of the logits


THRESHOLDS = {
    "fp32": Threshold(agreement=0.99, cosine=0.9999),
    "fp16": Threshold(agreement=0.98, cosine=0.999),
    "int8": Threshold(agreement=0.90, cosine=0.98),
}
DEFAULT_MAX_DROP = 1.0  # accuracy points an artifact may lose against PyTorch on labelled images
DEFAULT_PARITY_IMAGES = 128


@dataclass
class ParityImages:
    images: np.ndarray  # (N, 3, H, W) float32, preprocessed like the checkpoint
    labels: np.ndarray | None  # class indices in the model's label order, or None when unlabelled
    source: str  # where they came from, for the manifest


@dataclass
class Parity:
    status: str  # "passed" | "failed" | "not run"
    reason: str = ""
    num_images: int = 0
    images: str = ""
    agreement: float | None = None
    cosine: float | None = None
    max_abs_diff: float | None = None
    reference_top1: float | None = None  # PyTorch fp32 accuracy (%), labelled images only
    artifact_top1: float | None = None
    drop_points: float | None = None
    threshold: dict | None = None
    max_drop: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def parity_images(preprocessing: Preprocessing, model_labels: list[str], *, val_dir: Path | None,
                  checkpoint: Path | None, num_images: int = DEFAULT_PARITY_IMAGES, seed: int = 0) -> ParityImages:
    """A seeded sample of real images: --val DIR, else the run's validation split, else the shipped samples."""
    samples, classes, source = _labelled_samples(val_dir, checkpoint)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(samples), size=min(num_images, len(samples)), replace=False))
    picked = [samples[i] for i in chosen]
    images = preprocessing.load_batch([path for path, _ in picked])
    if all(name in model_labels for name in classes):
        labels = np.array([model_labels.index(classes[label]) for _, label in picked])
    else:  # the model does not know these classes (e.g. random weights, 1000 classes): agreement only
        labels = None
    return ParityImages(images=images, labels=labels, source=f"{source}, {len(picked)} images, seed {seed}")


def _labelled_samples(val_dir: Path | None, checkpoint: Path | None):
    if val_dir is not None:
        val_dir = Path(val_dir)
        if not val_dir.is_dir():
            raise EdgekitError(f"--val {val_dir} is not a directory")
        if is_prepared(val_dir):
            splits = load_splits(val_dir)
            return splits.val, splits.classes, f"{val_dir} (val split)"
        index = scan_image_folder(val_dir, min_classes=1)
        if not index.samples:
            raise EdgekitError(f"--val {val_dir} holds no images")
        return index.samples, index.classes, str(val_dir)
    run_splits = Path(checkpoint).parent / "splits" if checkpoint else None
    if run_splits is not None and is_prepared(run_splits):
        splits = load_splits(run_splits)
        return splits.val, splits.classes, f"the run's validation split ({run_splits})"
    splits = load_splits(SAMPLE_DATA_DIR)
    return splits.val, splits.classes, f"the shipped samples ({SAMPLE_DATA_DIR.name}, val split)"


def compare(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray | None, precision: str,
            max_drop: float, source: str) -> Parity:
    threshold = THRESHOLDS[precision]
    if candidate.shape != reference.shape:
        return Parity(status="failed", reason=f"output shape {candidate.shape} != PyTorch's {reference.shape}",
                      num_images=len(reference), images=source)
    agreement = float((candidate.argmax(1) == reference.argmax(1)).mean())
    cosine = float(np.mean(_cosine_rows(reference, candidate)))
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
        result.reference_top1 = 100.0 * float((reference.argmax(1) == labels).mean())
        result.artifact_top1 = 100.0 * float((candidate.argmax(1) == labels).mean())
        result.drop_points = result.reference_top1 - result.artifact_top1
        result.max_drop = max_drop
        if result.drop_points > max_drop:
            problems.append(f"top-1 drops {result.drop_points:.1f} points > --max-drop {max_drop}")
    if problems:
        result.status, result.reason = "failed", "; ".join(problems)
    return result


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(1) / np.maximum(norms, 1e-300), 0.0)
