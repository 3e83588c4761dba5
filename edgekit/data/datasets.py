"""A torch Dataset over (path, label) lists, and the training / evaluation transforms.

The evaluation transform (`eval_transform`, `ExactEval`) is `Preprocessing.load`'s exact contract as a torch
transform, the one predict, calibration and export parity use, so validation accuracy during training is
measured on exactly the inputs an exported model will see.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2 as T

from edgekit.preprocess import Preprocessing, exact_eval, letterbox_geometry, load_rgb
from edgekit.recipe import DEFAULT_CROP_SCALE



class ExactEval(torch.nn.Module):
    """uint8 CHW tensor -> normalised float32 CHW tensor: `edgekit.preprocess.exact_eval` (float64 geometry and
    normalisation, one rounding to float32)."""

    def __init__(self, pre: Preprocessing):
        super().__init__()
        self.pre = pre

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            raise TypeError("the evaluation transform takes a uint8 RGB image (3 x H x W)")
        return torch.from_numpy(exact_eval(image.numpy(), self.pre))


class Letterbox(torch.nn.Module):
    """Training's letterbox before a random crop: fit the longer side to `size` (torchvision's antialiased
    resize), pad the rest with `fill` per channel (round(mean * 255) on uint8). Evaluation uses ExactEval."""

    def __init__(self, size: int, fill: tuple[float, ...]):
        super().__init__()
        self.size, self.fill = size, tuple(fill)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        new_h, new_w, top, left = letterbox_geometry(image.shape[-2], image.shape[-1], self.size)
        image = T.functional.resize(image, [new_h, new_w], antialias=True)
        out = torch.empty((image.shape[0], self.size, self.size), dtype=image.dtype)
        for channel in range(image.shape[0]):
            out[channel].fill_(self.fill[channel])
        out[:, top:top + new_h, left:left + new_w] = image
        return out


def eval_transform(preprocessing: Preprocessing) -> T.Compose:
    """PIL RGB image -> normalised float32 tensor CHW: the evaluation transform of training (exact contract)."""
    return T.Compose([T.PILToTensor(), ExactEval(preprocessing)])


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
        return T.Compose([eval_transform(preprocessing), *([T.RandomHorizontalFlip()] if hflip else [])])
    geometry = [Letterbox(preprocessing.img_size, fill=tuple(round(m * 255) for m in preprocessing.mean))] \
        if preprocessing.resize == "letterbox" else []
    geometry.append(T.RandomResizedCrop(preprocessing.img_size, scale=crop_scale, antialias=True))
    if hflip:
        geometry.append(T.RandomHorizontalFlip())
    return T.Compose([T.PILToTensor(), *geometry, T.ToDtype(torch.float32, scale=True),
                      T.Normalize(preprocessing.mean, preprocessing.std)])

