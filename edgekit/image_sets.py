"""Which images a stage uses, where that depends on a prepared directory or a run (torch-free):

    labelled_images(path, split="val") -> LabelledImages
                                                     a class folder (every image) or a prepared directory (a split)
    calibration_images(calib, checkpoint, kind, count, seed) -> CalibrationChoice
                                                     which images calibrate int8: `--calib`, else the run's own
                                                     training split, else the shipped calibration/ set (ImageNet
                                                     weights: the shipped photographs). `edgekit export --int8` and
                                                     `edgekit quantize` use this one rule.

The seeded draws themselves are edgekit.images' (a base room); this room sits above data/, beside rundir.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgekit.data.folder import is_prepared, load_splits, scan_image_folder
from edgekit.errors import EdgekitError
from edgekit.images import (IMAGENET_PHOTOS_DIR, MAX_CALIBRATION_IMAGES, MIN_CALIBRATION_IMAGES, find_images,
                            seeded_sample)
from edgekit.paths import CALIBRATION_DIR, IMAGE_SUFFIXES
from edgekit.progress import OnProgress, Reporter, reporter
from edgekit.rundir import run_or_sample_splits


@dataclass
class LabelledImages:
    samples: list[tuple[Path, int]]  # (path, class index into `classes`)
    classes: list[str]
    description: str  # where they came from, for manifests, tables and reports


def labelled_images(path: Path | str, split: str = "val", what: str = "--data") -> LabelledImages:
    """A prepared directory's `split` (val by default), else every image of a class folder."""
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
                  on_progress: OnProgress | Reporter | None = None) -> tuple[list[Path], list[Path]]:
    """(a seeded sample of `count` image files under `directory`, all of them); fewer images than asked is a
    "warning" event through `on_progress` (edgekit.progress), none is an EdgekitError."""
    check_calibration_count(count)
    directory = _image_dir(Path(directory), what)
    paths = find_images(directory)
    if not paths:
        raise EdgekitError(f"no images in {what} {directory} (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
    if len(paths) < count:
        reporter(on_progress).warning(f"calibration: {directory} has only {len(paths)} image(s); using all of them instead of {count}")
    return seeded_sample(paths, count, seed), paths


def calibration_images(calib: Path | str | None, checkpoint: Path | str | None, kind: str, count: int,
                       seed: int = 0, on_progress: OnProgress | Reporter | None = None) -> CalibrationChoice:
    """Which images calibrate int8 (docs/quantization.md): `calib`, else the data the weights learned from (the
    run's training split of a checkpoint), else the shipped calibration/ set; ImageNet weights calibrate on the
    shipped natural photographs. `kind` is the model source's kind ("checkpoint", "pretrained", ...)."""
    check_calibration_count(count)
    if calib is not None:
        chosen, pool = sample_folder(calib, count, seed, "--calib", on_progress)
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
    chosen, pool = sample_folder(CALIBRATION_DIR, count, seed, "calibration directory", on_progress)
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
