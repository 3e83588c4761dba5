"""The mirror test: do left-right mirrored images still look like their own class?

What it measures, exactly: up to `per_class` images of each class (a seeded draw) are read as
grey, squashed to SIZE x SIZE and scaled to [0, 1]. Per class, the even-numbered images of the
draw give a class mean image (a nearest-class-mean classifier); the odd-numbered ones are then
classified by nearest mean (Euclidean) twice: as they are and mirrored.

    accuracy          nearest-mean top-1 of the held images as they are
    mirrored_accuracy the same images mirrored
    ratio             mirrored_accuracy / accuracy

Mirroring keeps the class when ratio >= KEEP_RATIO; then random horizontal flips are a safe
augmentation. When it drops, mirrored images sit nearer another class's mean than their own
(digits, letters, arrows, left/right-facing classes): flips would teach wrong labels.
`confused` lists, per class, the class its mirrored images were most often taken for when that
is not the class itself. When the plain images are themselves barely separable by this crude
classifier (accuracy under twice chance, or under halfway from chance to 1 for 2 or 3 classes)
the test says nothing and `keeps_class` is None.

It is a cheap proxy (pixels, class means), not a trained model's verdict: it catches
classes whose mirror image is another class or whose pose is mostly one-sided, nothing subtler.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from edgekit.images import seeded_generator, shuffled

SIZE = 32
KEEP_RATIO = 0.7  # shipped Fashion-MNIST measures 0.85 (shoes all face left), rendered digits 0.41
DEFAULT_PER_CLASS = 40


@dataclass
class MirrorTest:
    images: int  # held-out images classified (each twice)
    accuracy: float | None
    mirrored_accuracy: float | None
    ratio: float | None
    keeps_class: bool | None  # None: not enough signal to say
    confused: dict[str, str] = field(default_factory=dict)  # class -> class its mirror images were taken for

    @property
    def recommendation(self) -> str:
        if self.keeps_class is None:
            return "no signal: keep the default (flips on); check a few mirrored images by eye"
        if self.keeps_class:
            return "mirrored images keep their class: horizontal flips are safe (--hflip)"
        return "mirrored images look like other classes: train with --no-hflip"

    def to_dict(self) -> dict:
        return {**asdict(self), "keep_ratio_threshold": KEEP_RATIO, "recommendation": self.recommendation}


def _load_grey(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        grey = image.convert("L").resize((SIZE, SIZE), Image.BILINEAR)
        return np.asarray(grey, dtype=np.float32) / 255.0


def mirror_test(samples: list[tuple[Path, int]], classes: list[str], *, per_class: int = DEFAULT_PER_CLASS,
                seed: int = 0) -> MirrorTest:
    """Run the mirror test on (path, label) samples; unreadable files are skipped."""
    by_class: dict[int, list[Path]] = {}
    for path, label in sorted(samples):
        by_class.setdefault(label, []).append(Path(path))
    rng = seeded_generator(seed)
    means, held = {}, []
    for label, paths in sorted(by_class.items()):
        paths = shuffled(paths, rng)
        images = []
        for path in paths[:per_class]:
            try:
                images.append(_load_grey(path))
            except (OSError, ValueError):
                continue
        fit, test = images[0::2], images[1::2]
        if fit:
            means[label] = np.mean(fit, axis=0)
            held.extend((image, label) for image in test)
    if len(means) < 2 or not held:
        return MirrorTest(images=len(held), accuracy=None, mirrored_accuracy=None, ratio=None, keeps_class=None)
    labels = sorted(means)
    stack = np.stack([means[label] for label in labels]).reshape(len(labels), -1)

    def nearest(image: np.ndarray) -> int:
        return labels[int(np.argmin(((stack - image.reshape(1, -1)) ** 2).sum(axis=1)))]

    plain = [nearest(image) == label for image, label in held]
    mirrored_pred = [nearest(image[:, ::-1]) for image, _ in held]
    mirrored = [pred == label for pred, (_, label) in zip(mirrored_pred, held)]
    accuracy, mirrored_accuracy = float(np.mean(plain)), float(np.mean(mirrored))
    confused: dict[str, str] = {}
    for label in labels:
        preds = [p for p, (_, l) in zip(mirrored_pred, held) if l == label]
        if preds:
            top = max(set(preds), key=preds.count)
            if top != label:
                confused[classes[label]] = classes[top]
    chance = 1.0 / len(labels)
    if accuracy < min(2 * chance, (1 + chance) / 2):
        return MirrorTest(images=len(held), accuracy=accuracy, mirrored_accuracy=mirrored_accuracy, ratio=None,
                          keeps_class=None, confused=confused)
    ratio = mirrored_accuracy / accuracy
    return MirrorTest(images=len(held), accuracy=accuracy, mirrored_accuracy=mirrored_accuracy, ratio=round(ratio, 4),
                      keeps_class=ratio >= KEEP_RATIO, confused=confused)


def audit_entry(records, classes: list[str]) -> dict:
    """The audit's `mirror_test` entry from its readable ImageRecords (path, label)."""
    return mirror_test([(r.path, r.label) for r in records], classes).to_dict()


def audit_line(entry: dict) -> str:
    """One console line for the audit table: the figures, then the recommendation."""
    if entry.get("ratio") is None:
        return entry["recommendation"]
    return (f"nearest-class-mean top-1 {entry['accuracy']:.2f} as is, {entry['mirrored_accuracy']:.2f} mirrored "
            f"(ratio {entry['ratio']:.2f}, threshold {entry['keep_ratio_threshold']:.2f}): {entry['recommendation']}")
