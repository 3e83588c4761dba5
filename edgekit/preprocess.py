"""Preprocessing shared by training's evaluation transform, predict, calibration and export parity.

One `Preprocessing` value travels from the training run into the checkpoint and into every
artifact's manifest, so that the phone normalises exactly as training did.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.transforms import v2 as T

from edgekit.errors import EdgekitError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_FRACTION = 0.875  # resize to size/0.875 then centre-crop: the ImageNet evaluation convention

ResizeRule = Literal["center_crop", "letterbox"]


@dataclass(frozen=True)
class Preprocessing:
    """How an image file becomes a normalised NCHW float tensor."""

    img_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: ResizeRule = "center_crop"

    def to_dict(self) -> dict:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std),
                "pixel_range": [0.0, 1.0], "channel_order": "RGB", "layout": "NCHW"}

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessing":
        return cls(img_size=int(data["img_size"]), mean=tuple(data["mean"]), std=tuple(data["std"]),
                   resize=data.get("resize", "center_crop"))

    def eval_transform(self) -> T.Compose:
        """PIL RGB image -> normalised float tensor CHW; the evaluation transform of training."""
        if self.resize == "letterbox":
            geometry = [Letterbox(self.img_size, fill=tuple(round(m * 255) for m in self.mean))]
        else:
            geometry = [T.Resize(round(self.img_size / CROP_FRACTION), antialias=True), T.CenterCrop(self.img_size)]
        return T.Compose([T.PILToTensor(), *geometry, T.ToDtype(torch.float32, scale=True),
                          T.Normalize(self.mean, self.std)])

    def load(self, path: Path | str) -> torch.Tensor:
        return self.eval_transform()(load_rgb(path))

    def load_batch(self, paths: list[Path] | list[str]) -> np.ndarray:
        """Files -> float32 NCHW array, the input every predictor takes."""
        transform = self.eval_transform()
        return torch.stack([transform(load_rgb(p)) for p in paths]).numpy()


class Letterbox(torch.nn.Module):
    """Fit the longer side to `size`, pad the rest with the mean colour (normalises to zero)."""

    def __init__(self, size: int, fill: tuple[int, ...]):
        super().__init__()
        self.size, self.fill = size, fill

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        scale = self.size / max(height, width)
        new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
        image = T.functional.resize(image, [new_h, new_w], antialias=True)
        pad_h, pad_w = self.size - new_h, self.size - new_w
        padding = [pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2]
        return torch.stack([T.functional.pad(image[c:c + 1], padding, fill=self.fill[c])[0]
                            for c in range(image.shape[0])])


def load_rgb(path: Path | str) -> Image.Image:
    """Open any image file as RGB (grey, CMYK, palette and alpha images included)."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                background = Image.new("RGB", image.size, (255, 255, 255))  # alpha over white
                background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
                return background
            return image.convert("RGB")
    except (OSError, ValueError) as error:
        raise EdgekitError(f"cannot read image {path}: {error}") from None
