"""Choosing images: the one room that lists image files and draws seeded samples (numpy's generator only;
torch-free, a base room: it imports no data/ and no run directory).

    find_images(directory) -> [Path]                 every image file under a folder, sorted
    seeded_sample(items, count, seed=0) -> list      `count` items without replacement, in their original order
    seeded_generator(seed), shuffled(items, gen)     the same generator, for shuffles (splits, subsets)
    imagenet_photos()                                the shipped ImageNet photographs with their class index

Which labelled images a stage evaluates on and which images calibrate int8 read a prepared directory or a run:
`edgekit.image_sets` (above data/, beside rundir.py) holds those choices.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.paths import IMAGE_SUFFIXES, REPO_ROOT

IMAGENET_PHOTOS_DIR = REPO_ROOT / "samples" / "imagenet-photos"  # 20 labelled ImageNet photographs (README there)
MIN_CALIBRATION_IMAGES = 1
MAX_CALIBRATION_IMAGES = 5000  # beyond a few hundred the ranges stop moving; this bounds memory (5000 x 3 x 224^2 x 4 B = 3 GB)


def find_images(directory: Path | str) -> list[Path]:
    """Every image file under `directory` (recursively, hidden entries skipped), sorted for reproducibility."""
    directory = Path(directory)
    try:
        return sorted(p for p in directory.rglob("*")
                      if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                      and not any(part.startswith(".") for part in p.relative_to(directory).parts))
    except OSError as error:
        raise EdgekitError(f"cannot list {directory}: {error.strerror or error}") from None


def seeded_generator(seed: int) -> np.random.Generator:
    """The generator every shuffle and sample of edgekit's images uses (numpy's PCG64, seeded)."""
    return np.random.default_rng(seed)


def shuffled(items: list, generator: np.random.Generator) -> list:
    """`items` in the order of the generator's next permutation."""
    return [items[int(i)] for i in generator.permutation(len(items))]


def seeded_sample(items: list, count: int | None, seed: int = 0) -> list:
    """`count` items drawn without replacement (seeded), kept in their original order; all of them when
    `count` is None or not smaller. Export's parity images, `eval --max-images`, calibration sets and
    quantize's validation images are all drawn here, so the same seed gives the same images everywhere."""
    items = list(items)
    if count is None or count >= len(items):
        return items
    if count < 1:
        raise EdgekitError(f"a sample needs at least 1 image, got {count}")
    picked = seeded_generator(seed).choice(len(items), size=count, replace=False)
    return [items[i] for i in sorted(int(i) for i in picked)]


def imagenet_photos() -> list[tuple[Path, int]]:
    """The shipped ImageNet photographs as (path, ImageNet class index), the index read from the file name."""
    return [(path, int(path.stem.rsplit("_", 1)[1])) for path in find_images(IMAGENET_PHOTOS_DIR)]
