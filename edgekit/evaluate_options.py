"""What `edgekit eval` and `edgekit predict` are asked (`EvalOptions`, `PredictOptions`): every default in one place,
checked when made. Light (no torch, no numpy) so that the CLI reads its defaults from here; the stages are
edgekit.evaluate.evaluate / predict."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from edgekit import validate
from edgekit.errors import EdgekitError

SPLIT_CHOICES = ("val", "test", "train", "all")


@dataclass(frozen=True)
class EvalOptions:
    """`edgekit eval`: which model, on which images, where the report goes.

    model       an edgekit checkpoint (RUN/best.pt) or an artifact folder from `edgekit export`
    data        a class folder or prepared directory; None: the run's recorded splits, else the shipped samples
    split       val, test, train or all
    max_images  a seeded sample of this many (seed 0: the draw of `edgekit export --parity-size N`)
    out         where eval.json and confusion_matrix.png go; None: eval-<name>/ beside the model
    batch_size  images per forward pass
    """

    model: Path | str
    data: Path | str | None = None
    split: str = "val"
    max_images: int | None = None
    out: Path | str | None = None
    batch_size: int = 32

    def __post_init__(self):
        for name in ("model", "data", "out"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        validate.choice("--split", self.split, SPLIT_CHOICES)
        validate.count("--max-images", self.max_images, optional=True)
        validate.count("--batch-size", self.batch_size)


@dataclass(frozen=True)
class PredictOptions:
    """`edgekit predict`: a checkpoint or an artifact folder, image files, how many labels per image.

    A detector's: `min_score` hides weaker detections from the answer and the drawing; `out` is where the images
    with their boxes drawn go (a .jpg/.png file for one image, else a folder); a classifier takes neither.
    """

    model: Path | str
    images: Sequence[Path | str]
    top_k: int = 5
    batch_size: int = 32
    min_score: float = 0.25
    out: Path | str | None = None

    def __post_init__(self):
        object.__setattr__(self, "model", Path(self.model))
        object.__setattr__(self, "images", tuple(Path(p) for p in self.images))
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))
        if not self.images:
            raise EdgekitError("predict needs at least one image file")
        validate.count("--top-k", self.top_k)
        validate.count("--batch-size", self.batch_size)
        validate.number("--min-score", self.min_score, low=0.0, high=1.0)
