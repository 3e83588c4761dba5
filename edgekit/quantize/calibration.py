"""Calibration images: a seeded sample of real images, preprocessed exactly as evaluation does.

Static int8 quantization measures activation ranges on these images, so they must look like
what the model will see on the phone: same resize rule, same normalisation (the checkpoint's
`Preprocessing`). Any folder of images works: class folders or flat, searched recursively.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Callable

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgekit.errors import EdgekitError
from edgekit.paths import CALIBRATION_DIR, IMAGE_SUFFIXES
from edgekit.preprocess import Preprocessing
from edgekit.quantize import DEFAULT_CALIBRATION_IMAGES

log = logging.getLogger("edgekit.calibration")

MIN_CALIBRATION_IMAGES = 1
MAX_CALIBRATION_IMAGES = 5000  # beyond a few hundred the ranges stop moving; this bounds memory (5000 x 3 x 224^2 x 4 B = 3 GB)
LOAD_CHUNK = 32  # images preprocessed per progress step


def find_images(directory: Path) -> list[Path]:
    """Every image file under `directory` (recursively, hidden entries skipped), sorted for reproducibility."""
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(directory).parts))


def sample_calibration_paths(directory: Path | str | None = None, num_images: int = DEFAULT_CALIBRATION_IMAGES,
                             seed: int = 0, on_warning: Callable[[str], None] | None = None) -> list[Path]:
    """A seeded sample of `num_images` image paths from `directory` (all of them if fewer exist).

    Fewer images than asked is reported through `on_warning` (default: the "edgekit.calibration"
    logger, which Python prints to stderr when nothing else is configured), never printed here."""
    directory = Path(directory) if directory is not None else CALIBRATION_DIR
    if not isinstance(num_images, int) or not MIN_CALIBRATION_IMAGES <= num_images <= MAX_CALIBRATION_IMAGES:
        raise EdgekitError(f"the number of calibration images must be an integer from {MIN_CALIBRATION_IMAGES} "
                           f"to {MAX_CALIBRATION_IMAGES}, got {num_images!r}")
    if not directory.exists():
        raise EdgekitError(f"calibration directory not found: {directory}")
    if not directory.is_dir():
        raise EdgekitError(f"calibration path is not a directory: {directory}")
    paths = find_images(directory)
    if not paths:
        raise EdgekitError(f"no images in calibration directory {directory} (looked for {', '.join(IMAGE_SUFFIXES)}, recursively)")
    if len(paths) < num_images:
        (on_warning or log.warning)(
            f"calibration: {directory} has only {len(paths)} image(s); using all of them instead of {num_images}")
        return paths
    return sample_paths(paths, num_images, seed)


def sample_paths(paths: list[Path], num_images: int, seed: int = 0) -> list[Path]:
    """A seeded sample of `num_images` of `paths` (all of them when fewer), in sorted order."""
    paths = sorted(paths)
    return paths if len(paths) <= num_images else sorted(random.Random(seed).sample(paths, num_images))


def load_calibration_images(preprocessing: Preprocessing, directory: Path | str | None = None,
                            num_images: int = DEFAULT_CALIBRATION_IMAGES, seed: int = 0, show_progress: bool = True,
                            on_warning: Callable[[str], None] | None = None,
                            paths: list[Path] | None = None) -> np.ndarray:
    """(N, 3, H, W) float32 calibration batch; N = min(num_images, images available), 1 <= N <= 5000.

    `directory` defaults to edgekit.paths.CALIBRATION_DIR (real Fashion-MNIST images from the split
    training never sees). Raises EdgekitError for a missing or empty directory or a bad `num_images`.
    `paths` (already chosen image files) replaces the directory sampling.
    """
    if paths is None:
        paths = sample_calibration_paths(directory, num_images, seed, on_warning)
    chunks = [paths[i:i + LOAD_CHUNK] for i in range(0, len(paths), LOAD_CHUNK)]
    batches = []
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not show_progress, transient=True) as progress:
        task = progress.add_task("calibration images", total=len(paths))
        for chunk in chunks:
            batches.append(preprocessing.load_batch(chunk))
            progress.advance(task, len(chunk))
    return np.concatenate(batches).astype(np.float32, copy=False)
