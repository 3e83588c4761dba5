"""Preprocessing shared by training's evaluation transform, predict, calibration and export parity.

One `Preprocessing` value travels from the training run into the checkpoint and into every
artifact's manifest, so that the phone normalises exactly as training did.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
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

        The exact contract (docs/manifest.md, "Preprocessing, exactly"): uint8 -> float64 v / 255, the geometry
        in float64 with a fixed operation order (separable antialiased triangle filter, integer size rules),
        normalise in float64, then one rounding to float32. The app's Kotlin core reproduces it bit for bit.
        """
        return T.Compose([T.PILToTensor(), ExactEval(self)])

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


@lru_cache(maxsize=64)
def triangle_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One resampling pass from in_size to out_size samples: (first tap index, weights) per output index, the
    weights an out_size x taps float64 matrix (zero past a window's end). Exactly docs/manifest.md's formula,
    one IEEE double operation at a time: scale = in / out, support = max(scale, 1), center = (i + 0.5) * scale,
    lo = max(trunc((center - support) + 0.5), 0), hi = min(trunc((center + support) + 0.5), in),
    w_j = max(0, 1 - |((j - center) + 0.5) / support|), total = ((w_lo + w_lo+1) + ...), w_j / total."""
    scale = in_size / out_size
    support = max(scale, 1.0)
    first, rows = [], []
    for i in range(out_size):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        w = [max(0.0, 1.0 - abs((j - center + 0.5) / support)) for j in range(lo, hi)]
        total = 0.0
        for value in w:
            total += value
        first.append(lo)
        rows.append([value / total for value in w])
    taps = max(len(r) for r in rows)
    weights = np.zeros((out_size, taps))
    for i, r in enumerate(rows):
        weights[i, :len(r)] = r
    return np.asarray(first, dtype=np.int64), weights


def resample_axis(x: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    """One pass along `axis` (float64): out_i = ((w_0 * s_lo + w_1 * s_lo+1) + w_2 * s_lo+2) + ..., in tap order.
    Each product and sum is its own numpy operation (IEEE double, no fused multiply-add), as on the JVM; a
    zero weight past a window's end adds exactly 0. A pass whose size does not change is skipped (identity)."""
    in_size = x.shape[axis]
    if in_size == out_size:
        return x
    first, weights = triangle_taps(in_size, out_size)
    lines = np.ascontiguousarray(np.moveaxis(x, axis, 0))  # the resampled axis first: each tap gathers whole rows
    shape = (out_size,) + (1,) * (x.ndim - 1)
    acc = weights[:, 0].reshape(shape) * lines[first]
    term = np.empty_like(acc)
    for k in range(1, weights.shape[1]):
        np.take(lines, first + k, axis=0, out=term, mode="clip")  # past the end: the last row, weight 0
        np.multiply(weights[:, k].reshape(shape), term, out=term)
        np.add(acc, term, out=acc)  # separate ufuncs: a rounded product, then a rounded sum
    return np.moveaxis(acc, 0, axis)


def normalised_float64(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 CHW RGB -> the normalised float64 CHW values before the one rounding to float32 (the documented
    contract, docs/manifest.md "Preprocessing, exactly"; ExactEval casts them)."""
    x = np.asarray(image, dtype=np.float64) / 255.0
    h, w = x.shape[1:]
    size = pre.img_size
    mean = np.asarray(pre.mean, dtype=np.float64).reshape(3, 1, 1)
    std = np.asarray(pre.std, dtype=np.float64).reshape(3, 1, 1)
    if pre.resize == "letterbox":
        new_h, new_w, top, left = letterbox_geometry(h, w, size)
        resized = resample_axis(resample_axis(x, new_w, 2), new_h, 1)  # widths first, then heights
        out = np.empty((3, size, size))
        out[:] = mean  # padding: the mean itself, so (mean - mean) / std = 0 exactly
        out[:, top:top + new_h, left:left + new_w] = resized
    else:
        new_h, new_w, top, left = center_crop_geometry(h, w, size)
        resized = resample_axis(resample_axis(x, new_w, 2), new_h, 1)
        out = resized[:, top:top + size, left:left + size]
    return (out - mean) / std


class ExactEval(torch.nn.Module):
    """uint8 CHW tensor -> normalised float32 CHW tensor: v / 255, geometry and normalisation in float64."""

    def __init__(self, pre: Preprocessing):
        super().__init__()
        self.pre = pre

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            raise TypeError("the evaluation transform takes a uint8 RGB image (3 x H x W)")
        values = normalised_float64(image.numpy(), self.pre)
        return torch.from_numpy(np.ascontiguousarray(values.astype(np.float32)))  # one rounding, ties to even


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
