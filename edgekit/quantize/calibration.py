"""Calibration images: a seeded sample of real images, preprocessed exactly as evaluation does.

Static int8 quantization measures activation ranges on these images, so they must look like
what the model will see on the phone: same resize rule, same normalisation (the checkpoint's
`Preprocessing`). Any folder of images works: class folders or flat, searched recursively. Which images
calibrate by default is one rule for export and quantize alike: `edgekit.image_sets.calibration_images`.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgekit.image_sets import sample_folder
from edgekit.images import MAX_CALIBRATION_IMAGES, MIN_CALIBRATION_IMAGES, find_images  # noqa: F401
from edgekit.paths import CALIBRATION_DIR
from edgekit.preprocess import Preprocessing
from edgekit.progress import OnProgress, Reporter, reporter
from edgekit.quantize import DEFAULT_CALIBRATION_IMAGES

log = logging.getLogger("edgekit.calibration")

LOAD_CHUNK = 32  # images preprocessed per progress step


def sample_calibration_paths(directory: Path | str | None = None, num_images: int = DEFAULT_CALIBRATION_IMAGES,
                             seed: int = 0, on_progress: OnProgress | Reporter | None = None) -> list[Path]:
    """A seeded sample of `num_images` image paths from `directory` (all of them if fewer exist).

    Fewer images than asked is a "warning" event through `on_progress` (without one: a warning of the
    "edgekit.calibration" logger, which Python prints to stderr when nothing else is configured), never printed here."""
    chosen, _ = sample_folder(directory if directory is not None else CALIBRATION_DIR, num_images, seed,
                              on_progress=_or_log(on_progress))
    return chosen


def _or_log(on_progress: OnProgress | Reporter | None) -> Reporter:
    """The caller's reporter, or one that sends warnings to the "edgekit.calibration" logger."""
    if on_progress is not None:
        return reporter(on_progress)
    return Reporter(lambda event: log.warning(event.message) if event.kind == "warning" else None)


def load_calibration_images(preprocessing: Preprocessing, directory: Path | str | None = None,
                            num_images: int = DEFAULT_CALIBRATION_IMAGES, seed: int = 0,
                            paths: list[Path] | None = None,
                            on_progress: OnProgress | Reporter | None = None) -> np.ndarray:
    """(N, 3, H, W) float32 calibration batch; N = min(num_images, images available), 1 <= N <= 5000.

    `directory` defaults to edgekit.paths.CALIBRATION_DIR (real Fashion-MNIST images from the split
    training never sees). Raises EdgekitError for a missing or empty directory or a bad `num_images`.
    `paths` (already chosen image files) replaces the directory sampling. `on_progress` (edgekit.progress) hears a
    "loading calibration images" task, one step per image, and the warning when fewer images exist than asked.
    """
    say = _or_log(on_progress)
    if paths is None:
        paths = sample_calibration_paths(directory, num_images, seed, say)
    batches = []
    with say.task("loading calibration images", len(paths)) as advance:
        for start in range(0, len(paths), LOAD_CHUNK):
            batches.append(preprocessing.load_batch(paths[start:start + LOAD_CHUNK]))
            advance(len(batches[-1]))
    return np.concatenate(batches).astype(np.float32, copy=False)


def calibration_for(checkpoint_path: Path, preprocessing: Preprocessing, calib: Path | str | None, count: int,
                    seed: int = 0, on_progress: OnProgress | Reporter | None = None) -> tuple[np.ndarray, str]:
    """(images, description) calibrating int8 of a checkpoint: the same images as `edgekit export --int8` of it
    (`calib`, else the run's training split, else the shipped calibration set; edgekit.image_sets.calibration_images)."""
    from edgekit.image_sets import calibration_images

    choice = calibration_images(calib, checkpoint_path, "checkpoint", count, seed=seed, on_progress=on_progress)
    return load_calibration_images(preprocessing, paths=choice.paths, on_progress=on_progress), choice.description
