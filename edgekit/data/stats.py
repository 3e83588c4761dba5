"""Per-channel mean and standard deviation of a training split, streamed one image at a time.

The result becomes the run's `Preprocessing(mean, std)` and so the normalisation every exported
artifact and the phone apply: it is measured on the training split only, never on validation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torchvision.transforms import v2 as T

from edgekit.errors import EdgekitError
from edgekit.preprocess import load_rgb
from edgekit.progress import OnProgress, Reporter, reporter

MIN_STD = 1e-3  # a channel without variation (e.g. an all-zero blue) must not divide by zero


STATISTICS_TASK = "normalisation statistics (training split)"


def compute_mean_std(paths: Sequence[Path | str], img_size: int | None = None,
                     on_progress: OnProgress | Reporter | None = None) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Mean and std of RGB pixels in [0, 1] over all images, weighted by pixel count.

    Running sums in float64 over one image at a time, so memory does not grow with the data set.
    `img_size` resizes the shorter side first (the scale the network sees); None keeps each
    file's own pixels. `on_progress` hears a task with one step per image (edgekit.progress).
    """
    resize = T.Resize(img_size, antialias=True) if img_size else None
    total = np.zeros(3, dtype=np.float64)
    total_sq = np.zeros(3, dtype=np.float64)
    count = 0
    with reporter(on_progress).task(STATISTICS_TASK, len(paths)) as advance:
        for path in paths:
            image = T.functional.pil_to_tensor(load_rgb(path))
            if resize is not None:
                image = resize(image)
            pixels = image.reshape(3, -1).to(torch.float64) / 255.0
            total += pixels.sum(dim=1).numpy()
            total_sq += (pixels * pixels).sum(dim=1).numpy()
            count += pixels.shape[1]
            advance()
    if count == 0:
        raise EdgekitError("cannot compute normalisation statistics: no training images")
    mean = total / count
    variance = np.maximum(total_sq / count - mean * mean, 0.0)
    std = np.maximum(np.sqrt(variance), MIN_STD)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
