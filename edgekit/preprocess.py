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
        """PIL RGB image -> normalised float32 tensor CHW; the evaluation transform of training.

        The exact contract (docs/manifest.md, "Preprocessing, exactly"): uint8 -> float32 v / 255, then the
        geometry in float32 (separable antialiased triangle filter, integer size rules), then normalise.
        """
        if self.resize == "letterbox":
            geometry = Letterbox(self.img_size, fill=self.mean)
        else:
            geometry = ResizeCenterCrop(self.img_size)
        return T.Compose([T.PILToTensor(), ToUnitFloat(), geometry, T.Normalize(self.mean, self.std)])

    def load(self, path: Path | str) -> torch.Tensor:
        return self.eval_transform()(load_rgb(path))

    def load_batch(self, paths: list[Path] | list[str]) -> np.ndarray:
        """Files -> float32 NCHW array, the input every predictor takes."""
        transform = self.eval_transform()
        return torch.stack([transform(load_rgb(p)) for p in paths]).numpy()


def resized_shorter_side(img_size: int) -> int:
    """round(img_size / 0.875) = floor(8 * img_size / 7 + 1/2), in integers (8n/7 is never a half)."""
    return (16 * img_size + 7) // 14


def center_crop_geometry(height: int, width: int, img_size: int) -> tuple[int, int, int, int]:
    """(resized height, resized width, crop top, crop left) of the centre-crop rule, all integer arithmetic:
    shorter side -> resized_shorter_side(img_size), longer side -> floor(that * longer / shorter) (as
    torchvision's Resize(int)), crop offsets floor((resized - img_size) / 2)."""
    short = resized_shorter_side(img_size)
    if height <= width:
        new_h, new_w = short, short * width // height
    else:
        new_h, new_w = short * height // width, short
    return new_h, new_w, (new_h - img_size) // 2, (new_w - img_size) // 2


def letterbox_geometry(height: int, width: int, img_size: int) -> tuple[int, int, int, int]:
    """(resized height, resized width, pad top, pad left): the longer side becomes img_size, the shorter
    max(1, floor(shorter * img_size / longer + 1/2)) (round half up, in integers); the padding is split
    with the smaller half (floor) on the top/left."""
    if height >= width:
        new_h, new_w = img_size, max(1, (2 * width * img_size + height) // (2 * height))
    else:
        new_h, new_w = max(1, (2 * height * img_size + width) // (2 * width)), img_size
    return new_h, new_w, (img_size - new_h) // 2, (img_size - new_w) // 2


def antialiased_resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """float32 CHW -> float32 CHW of (height, width): torchvision's bilinear with antialias=True, i.e. PIL's
    separable triangle filter on floats (widths first, then heights). No rounding, no clamping."""
    if image.dtype != torch.float32:
        raise TypeError("the evaluation geometry resizes float32 images")
    if tuple(image.shape[-2:]) == (height, width):
        return image
    return T.functional.resize(image, [height, width], interpolation=T.InterpolationMode.BILINEAR, antialias=True)


class ToUnitFloat(torch.nn.Module):
    """uint8 CHW -> float32 v / 255 (an IEEE division, correctly rounded; not v * (1/255))."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image.to(torch.float32) / 255.0


class ResizeCenterCrop(torch.nn.Module):
    """Shorter side to round(size / 0.875), longer side floored, then the centre size x size (floor offsets)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        new_h, new_w, top, left = center_crop_geometry(image.shape[-2], image.shape[-1], self.size)
        image = antialiased_resize(image, new_h, new_w)
        return image[..., top:top + self.size, left:left + self.size].contiguous()


class Letterbox(torch.nn.Module):
    """Fit the longer side to `size`, pad the rest with `fill` per channel, in the image's own units
    (the mean in [0, 1] at evaluation: padding normalises to exactly 0; round(mean * 255) on uint8 in training).
    uint8 images are resized with torchvision's uint8 path (training only); float32 ones exactly as documented."""

    def __init__(self, size: int, fill: tuple[float, ...]):
        super().__init__()
        self.size, self.fill = size, tuple(fill)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        new_h, new_w, top, left = letterbox_geometry(image.shape[-2], image.shape[-1], self.size)
        if image.dtype == torch.float32:
            image = antialiased_resize(image, new_h, new_w)
        else:
            image = T.functional.resize(image, [new_h, new_w], antialias=True)
        out = torch.empty((image.shape[0], self.size, self.size), dtype=image.dtype)
        for channel in range(image.shape[0]):
            out[channel].fill_(self.fill[channel])
        out[:, top:top + new_h, left:left + new_w] = image
        return out


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
