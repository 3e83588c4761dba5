"""Build the small real data sets that ship with edgekit from Debian's Fashion-MNIST package.

Run once by a maintainer (needs `apt-get install dataset-fashion-mnist`); the PNG files it
writes are committed, so users and CI never need the package. Deterministic: the same
images come out every time.

  samples/fashion-mnist/<class>/   250 images per class from the *train* split (demo/training set)
  calibration/<class>/             20 images per class from the *t10k* split (default calibration set)

The two sets come from different official splits, so calibration never sees training images.
"""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

SOURCE = Path("/usr/share/datasets/fashion-mnist")
ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["t-shirt_top", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle_boot"]


def read_idx(split: str) -> tuple[np.ndarray, np.ndarray]:
    images = np.frombuffer(gzip.open(SOURCE / f"{split}-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(SOURCE / f"{split}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    return images.reshape(-1, 28, 28), labels


def write_subset(split: str, per_class: int, out_dir: Path, seed: int) -> None:
    images, labels = read_idx(split)
    rng = np.random.default_rng(seed)
    for class_index, class_name in enumerate(CLASSES):
        folder = out_dir / class_name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        chosen = np.sort(rng.choice(np.flatnonzero(labels == class_index), per_class, replace=False))
        for source_index in chosen:
            # the file name keeps the index in the official split, for provenance
            Image.fromarray(images[source_index], mode="L").save(folder / f"{split}_{source_index:05d}.png", optimize=True)


if __name__ == "__main__":
    write_subset("train", 250, ROOT / "samples" / "fashion-mnist", seed=0)
    write_subset("t10k", 20, ROOT / "calibration", seed=1)
    print("written")
