"""Choosing images: the one room that lists image files, draws seeded samples and picks the labelled images
and calibration sets the later stages use (numpy's generator only; torch-free).

    find_images(directory) -> [Path]                 every image file under a folder, sorted
    seeded_sample(items, count, seed=0) -> list      `count` items without replacement, in their original order
    seeded_generator(seed), shuffled(items, gen)     the same generator, for shuffles (splits, subsets)
    labelled_images(path, split="val") -> LabelledImages
                                                     a class folder (every image) or a prepared directory (a split)
    calibration_images(calib, checkpoint, kind, count, seed) -> CalibrationChoice
                                                     which images calibrate int8: `--calib`, else the run's own
                                                     training split, else the shipped calibration/ set (ImageNet
                                                     weights: the shipped photographs). `edgekit export --int8` and
                                                     `edgekit quantize` use this one rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.paths import CALIBRATION_DIR, IMAGE_SUFFIXES, REPO_ROOT

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


@dataclass
class LabelledImages:
    samples: list[tuple[Path, int]]  # (path, class index into `classes`)
    classes: list[str]
    description: str  # where they came from, for manifests, tables and reports


def labelled_images(path: Path | str, split: str = "val", what: str = "--data") -> LabelledImages:
    """A prepared directory's `split` (val by default), else every image of a class folder."""
    from edgekit.data.folder import is_prepared, load_splits, scan_image_folder

    path = Path(path)
    if not path.is_dir():
        raise EdgekitError(f"{what} {path} is not a directory")
    if is_prepared(path):
        splits = load_splits(path)
        samples = getattr(splits, split)
        classes, how = splits.classes, f"{split} split"
    else:
        index = scan_image_folder(path, min_classes=1)
        samples, classes, how = index.samples, index.classes, "all images"
    if not samples:
        raise EdgekitError(f"{what} {path} holds no labelled images")
    return LabelledImages(list(samples), list(classes), f"{path} ({how}, {len(samples)} images)")


@dataclass
class CalibrationChoice:
    paths: list[Path]  # the chosen image files
    description: str  # for the manifest: which set, how many, how chosen
    available: int = 0  # how many images the set holds (an int8 repair may ask for a larger sample)


def check_calibration_count(count) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or not MIN_CALIBRATION_IMAGES <= count <= MAX_CALIBRATION_IMAGES:
        raise EdgekitError(f"the number of calibration images must be an integer from {MIN_CALIBRATION_IMAGES} "
                           f"to {MAX_CALIBRATION_IMAGES}, got {count!r}")
    return count


def sample_folder(directory: Path | str, count: int, seed: int = 0, what: str = "calibration directory",
                  on_warning: Callable[[str], None] | None = None) -> tuple[list[Path], list[Path]]:
    """(a seeded sample of `count` image files under `directory`, all of them); fewer images than asked is said
    through `on_warning`, none is an EdgekitError."""
    check_calibration_count(count)
    directory = _image_dir(Path(directory), what)
    paths = find_images(directory)
    if not paths:
        raise EdgekitError(f"no images in {what} {directory} (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
    if len(paths) < count and on_warning is not None:
        on_warning(f"calibration: {directory} has only {len(paths)} image(s); using all of them instead of {count}")
    return seeded_sample(paths, count, seed), paths


def calibration_images(calib: Path | str | None, checkpoint: Path | str | None, kind: str, count: int,
                       seed: int = 0, on_warning: Callable[[str], None] | None = None) -> CalibrationChoice:
    """Which images calibrate int8 (docs/quantization.md): `calib`, else the data the weights learned from (the
    run's training split of a checkpoint), else the shipped calibration/ set; ImageNet weights calibrate on the
    shipped natural photographs. `kind` is the model source's kind ("checkpoint", "pretrained", ...)."""
    from edgekit.rundir import run_or_sample_splits

    check_calibration_count(count)
    if calib is not None:
        chosen, pool = sample_folder(calib, count, seed, "--calib", on_warning)
        return CalibrationChoice(chosen, f"--calib {calib} ({_how(chosen, pool, seed)})", len(pool))
    if kind == "checkpoint" and checkpoint is not None:
        data = run_or_sample_splits(checkpoint)
        if data.source == "run":
            train = [path for path, _ in data.splits.train]
            chosen = seeded_sample(train, count, seed)
            return CalibrationChoice(chosen, f"the run's training split ({data.splits.root}), "
                                             f"{_how(chosen, train, seed)}", len(train))
    if kind == "pretrained":
        paths = find_images(IMAGENET_PHOTOS_DIR)
        return CalibrationChoice(paths, f"the shipped ImageNet photographs ({IMAGENET_PHOTOS_DIR.name}), "
                                        f"all {len(paths)}: weak evidence", len(paths))
    chosen, pool = sample_folder(CALIBRATION_DIR, count, seed, "calibration directory", on_warning)
    return CalibrationChoice(chosen, f"the shipped calibration set ({CALIBRATION_DIR.name}/), {_how(chosen, pool, seed)}",
                             len(pool))


def _how(chosen: list, pool: list, seed: int) -> str:
    return (f"all {len(pool)} images" if len(chosen) == len(pool)
            else f"{len(chosen)} of {len(pool)} images, seed {seed}")


def _image_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise EdgekitError(f"{what} not found: {path}")
    if not path.is_dir():
        raise EdgekitError(f"{what} is not a directory: {path}")
    return path


def imagenet_photos() -> list[tuple[Path, int]]:
    """The shipped ImageNet photographs as (path, ImageNet class index), the index read from the file name."""
    return [(path, int(path.stem.rsplit("_", 1)[1])) for path in find_images(IMAGENET_PHOTOS_DIR)]
