"""Preprocessing shared by training's evaluation transform, predict, calibration and export parity.

One `Preprocessing` value travels from the training run into the checkpoint and into every
artifact's manifest, so that the phone normalises exactly as training did. This module is numpy and
PIL only (no torch): the manifest reader, the runtimes and the CLI use it; the torch transforms built
on it (`ExactEval`, `Letterbox`, `eval_transform`) live in `edgekit.data.datasets`.

Which preprocessing a model gets is settled here too, once, by `resolve_preprocessing` (its precedence is
`PRECEDENCE`, also in docs/byom.md): export calls it with what the model's source carries.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import math
import numbers

import numpy as np
from PIL import Image, ImageOps

from edgekit.errors import EdgekitError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_FRACTION = 0.875  # resize to size/0.875 then centre-crop: the ImageNet evaluation convention

ResizeRule = Literal["center_crop", "letterbox", "resize"]
RESIZE_RULES = ("center_crop", "letterbox")  # a classifier's rules (`edgekit train/export --resize`)
DETECTION_RESIZE_RULES = ("resize", "letterbox")  # a detector's: never a crop that cuts boxes
ALL_RESIZE_RULES = RESIZE_RULES + ("resize",)
MIN_STD, MAX_STD, MAX_MEAN = 1e-6, 1e6, 1e6  # normalisation a float32 image survives: (x - mean) / std stays finite
MAX_IMG_SIZE = 4096  # a larger square input is a typo, not a phone model


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

    def __post_init__(self):
        problem = _problem(self.img_size, self.mean, self.std, self.resize)
        if problem:
            raise EdgekitError(f"preprocessing: {problem}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @classmethod
    def from_dict(cls, data: dict, where: str = "preprocessing") -> "Preprocessing":
        """From a manifest's, checkpoint's or run's dict; a one-line EdgekitError naming `where` when a value
        is missing or of the wrong type."""
        if not isinstance(data, dict):
            raise EdgekitError(f"{where} must be an object with img_size, mean, std and resize")
        missing = [key for key in ("img_size", "mean", "std") if key not in data]
        if missing:
            raise EdgekitError(f"{where} lacks {', '.join(missing)}")
        resize = data.get("resize", "center_crop")
        problem = _problem(data["img_size"], data["mean"], data["std"], resize)
        if problem:
            raise EdgekitError(f"{where}: {problem}")
        return cls(img_size=int(data["img_size"]), mean=tuple(float(v) for v in data["mean"]),
                   std=tuple(float(v) for v in data["std"]), resize=resize)

    def load(self, path: Path | str) -> np.ndarray:
        """One image file -> normalised float32 CHW array (the exact evaluation transform)."""
        return exact_eval(np.asarray(load_rgb(path)).transpose(2, 0, 1), self)

    def load_batch(self, paths: list[Path] | list[str]) -> np.ndarray:
        """Files -> float32 NCHW array, the input every predictor takes."""
        if not paths:
            raise EdgekitError("no images to load")
        return np.stack([self.load(p) for p in paths])


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def channel_problem(name: str, values) -> str | None:
    """What is wrong with a mean or std (three finite numbers; |mean| at most MAX_MEAN, std from MIN_STD to
    MAX_STD: beyond them (x - mean) / std overflows float32 or means nothing); None when nothing."""
    if not isinstance(values, (list, tuple)) or len(values) != 3 or not all(_is_number(v) for v in values):
        return f"{name} must be three finite numbers (R, G, B), got {values!r}"
    if name == "std" and not all(MIN_STD <= v <= MAX_STD for v in values):
        return f"std must be from {MIN_STD:g} to {MAX_STD:g} (positive), got {list(values)!r}"
    if name == "mean" and not all(abs(v) <= MAX_MEAN for v in values):
        return f"mean must be from {-MAX_MEAN:g} to {MAX_MEAN:g}, got {list(values)!r}"
    return None


def _problem(img_size, mean, std, resize) -> str | None:
    """What is wrong with these preprocessing values, in a few words; None when nothing."""
    if not isinstance(img_size, numbers.Integral) or isinstance(img_size, bool) or not 1 <= img_size <= MAX_IMG_SIZE:
        return f"img_size must be an integer from 1 to {MAX_IMG_SIZE}, got {img_size!r}"
    for name, values in (("mean", mean), ("std", std)):
        problem = channel_problem(name, values)
        if problem:
            return problem
    if resize not in ALL_RESIZE_RULES:
        return f"resize must be one of {', '.join(ALL_RESIZE_RULES)}, got {resize!r}"
    return None


# ----------------------------------------------------------------------------- which preprocessing a model gets

IMAGENET_NORMALISATION = "--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225"
PRECEDENCE = (
    "a checkpoint's own preprocessing (what it was trained with) is fixed: a flag may only repeat it",
    "else each field from the first that gives it: the flags (--img-size, --mean, --std, --resize, or an "
    "edgekit.Preprocessing); what the source publishes (timm's pretrained_cfg, torchvision's weights: size, mean, "
    "std); a .pt2 program's input size (size only, and --img-size must agree with it); an edgekit zoo "
    "architecture's defaults (its input size, ImageNet's mean and std); resize center_crop",
    "a field still missing (a brought model that publishes nothing) is an error naming the flags",
)


def resolve_preprocessing(given: dict, *, fixed: Preprocessing | None = None, published: Preprocessing | None = None,
                          input_size: int | None = None, zoo_size: int | None = None,
                          source: str = "the model") -> Preprocessing:
    """The one rule (`PRECEDENCE`) that settles a model's preprocessing from what it carries and what was asked.

    `given`: the caller's values by field (img_size, mean, std, resize; only those given). `fixed`: a checkpoint's
    preprocessing. `published`: what the architecture's publisher states. `input_size`: a program's saved input
    size. `zoo_size`: an edgekit zoo architecture's default size (its defaults apply). `source` names the model in
    the messages. Raises EdgekitError, naming the flag, for a flag that disagrees or a field nobody gives."""
    if fixed is not None:
        if "img_size" in given and given["img_size"] != fixed.img_size:
            raise EdgekitError(f"--img-size {given['img_size']} disagrees with the checkpoint, trained at "
                               f"{fixed.img_size}; leave --img-size out (the checkpoint decides)")
        for key in ("mean", "std", "resize"):
            value = given.get(key)
            if value is not None and _differs(value, getattr(fixed, key)):
                raise EdgekitError(f"--{key} {_shown(value)} disagrees with the checkpoint's "
                                   f"{_shown(getattr(fixed, key))}; leave --{key} out (the checkpoint decides)")
        return fixed
    zoo = Preprocessing(img_size=zoo_size) if zoo_size is not None else None
    layers = (given, _fields(published), {"img_size": input_size}, _fields(zoo), {"resize": "center_crop"})
    values = {key: next((layer[key] for layer in layers if layer.get(key) is not None), None)
              for key in ("img_size", "mean", "std", "resize")}
    missing = [flag for key, flag in (("img_size", "--img-size N"), ("mean", "--mean R,G,B"), ("std", "--std R,G,B"))
               if values[key] is None]
    if missing:
        carries = " (it carries its input size only)" if input_size else ""
        raise EdgekitError(f"{source} carries no preprocessing{carries}: pass {' '.join(missing)} — the input "
                           f"size and normalisation the model was trained with (ImageNet's: {IMAGENET_NORMALISATION}); "
                           "--resize center_crop|letterbox (default center_crop)")
    if input_size is not None and values["img_size"] != input_size:
        raise EdgekitError(f"--img-size {values['img_size']} disagrees with {source}, saved for "
                           f"{input_size}x{input_size} images")
    return Preprocessing(**values)


def _fields(pre: Preprocessing | None) -> dict:
    return {} if pre is None else {"img_size": pre.img_size, "mean": pre.mean, "std": pre.std, "resize": pre.resize}


def _differs(a, b) -> bool:
    if isinstance(a, (tuple, list)):
        return len(a) != len(b) or any(abs(float(x) - float(y)) > 1e-9 for x, y in zip(a, b))
    return a != b


def _shown(value) -> str:
    return ",".join(f"{v:g}" for v in value) if isinstance(value, (tuple, list)) else str(value)


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
    elif pre.resize == "resize":  # a detector's plain resize: both sides to img_size, the aspect not kept
        out = resample_axis(resample_axis(x, size, 2), size, 1)
    else:
        new_h, new_w, top, left = center_crop_geometry(h, w, size)
        resized = resample_axis(resample_axis(x, new_w, 2), new_h, 1)
        out = resized[:, top:top + size, left:left + size]
    return (out - mean) / std


def exact_eval(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """uint8 CHW RGB array -> normalised float32 CHW array: v / 255, geometry and normalisation in float64, then
    one rounding to float32 (ties to even). The contract of docs/manifest.md, "Preprocessing, exactly"."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise TypeError("the evaluation transform takes a uint8 RGB image (3 x H x W)")
    return np.ascontiguousarray(normalised_float64(image, pre).astype(np.float32))


SIXTEEN_BIT_GREY = ("I;16", "I;16L", "I;16B", "I;16N")  # PIL's modes for 16-bit grey (PNG, TIFF, PGM)
WIDE_MODES = ("I", "F")  # 32-bit integer or float samples: no 8-bit rule everyone agrees on


def unsupported_mode(mode: str) -> str | None:
    """Why an image of this PIL mode is refused (by load_rgb and by the data audit alike), or None."""
    if mode in WIDE_MODES:
        return f"32-bit samples (mode {mode}): edgekit reads 1- to 8-bit and 16-bit images"
    return None


def load_rgb(path: Path | str) -> Image.Image:
    """Open any image file as 8-bit RGB (grey, CMYK, palette, alpha and 16-bit images included), as
    docs/manifest.md ("Preprocessing, exactly", step 1) says and the app's JVM tool repeats: 16-bit samples
    become their high byte (v >> 8), which is what PIL itself does for 16-bit colour PNGs; 32-bit images are
    refused."""
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            problem = unsupported_mode(image.mode)
            if problem:
                raise EdgekitError(f"cannot read image {path}: {problem}")
            if image.mode in SIXTEEN_BIT_GREY:  # PIL's own conversion would clip every value above 255 to white
                high = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
                return Image.fromarray(high, "L").convert("RGB")
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                background = Image.new("RGB", image.size, (255, 255, 255))  # alpha over white
                background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
                return background
            return image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise EdgekitError(f"cannot read image {path}: {error}") from None
