"""A torch Dataset over (path, label) lists, and the training / evaluation transforms.

The evaluation transform is `Preprocessing.eval_transform()` itself, the one predict, calibration
and export parity use, so validation accuracy during training is measured on exactly the inputs
an exported model will see.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2 as T

from edgekit.preprocess import Letterbox, Preprocessing, load_rgb

DEFAULT_CROP_SCALE = (0.35, 1.0)  # milder than ImageNet's 0.08: small models, small images


class ImageListDataset(Dataset):
    """Images read from disk on access (never all held in memory), labelled by class index."""

    def __init__(self, samples: list[tuple[Path, int]], transform):
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(load_rgb(path)), label


def train_transform(preprocessing: Preprocessing, crop_scale: tuple[float, float] = DEFAULT_CROP_SCALE,
                    hflip: bool = True) -> T.Compose:
    """Standard augmentation: random resized crop and horizontal flip, then the run's normalisation.

    `crop_scale` (smallest, largest area fraction) of the random crop; a smallest fraction of 1.0
    means no random crop: the evaluation geometry itself. `hflip=False` leaves flips out
    (`edgekit.recipe` picks both for the run's budget and data).

    With the letterbox rule the whole image is first fitted into the square (as at evaluation),
    so the crops see the same geometry the deployed model gets.
    """
    if crop_scale[0] >= 1.0:  # no random crop: exactly the evaluation transform, then the flip (they commute)
        return T.Compose([preprocessing.eval_transform(), *([T.RandomHorizontalFlip()] if hflip else [])])
    geometry = [Letterbox(preprocessing.img_size, fill=tuple(round(m * 255) for m in preprocessing.mean))] \
        if preprocessing.resize == "letterbox" else []
    geometry.append(T.RandomResizedCrop(preprocessing.img_size, scale=crop_scale, antialias=True))
    if hflip:
        geometry.append(T.RandomHorizontalFlip())
    return T.Compose([T.PILToTensor(), *geometry, T.ToDtype(torch.float32, scale=True),
                      T.Normalize(preprocessing.mean, preprocessing.std)])


def eval_transform(preprocessing: Preprocessing) -> T.Compose:
    return preprocessing.eval_transform()
