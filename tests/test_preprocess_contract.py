"""The evaluation preprocessing is exactly the contract written in docs/manifest.md ("Preprocessing, exactly").

An independent plain-Python implementation of the documented steps (integer size rules, the triangle-filter
weights in float64 one operation at a time, products summed in tap order, floor crop offsets, mean padding,
normalisation in float64, one rounding to float32) must give edgekit's float32 tensor bit for bit, on small real
images of awkward sizes (downsampled and upsampled, both resize rules). On the large photographs (the 1024x683 one
where a rounded longer side, 384, differs from the truncated one, 383) a float64 matrix version of the same words,
which sums in another order, agrees to float32 rounding.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from edgekit.android.yuv import rgb_to_yuv420, rotate_clockwise, yuv420_to_rgb
from edgekit.data.datasets import eval_transform
from edgekit.paths import REPO_ROOT
from edgekit.preprocess import Preprocessing, center_crop_geometry, letterbox_geometry, load_rgb, normalised_float64

PHOTOS = REPO_ROOT / "samples" / "imagenet-photos"


def _weights(in_size: int, out_size: int) -> np.ndarray:
    """docs/manifest.md's formula: out_size x in_size matrix of normalised triangle-filter weights."""
    scale = in_size / out_size
    support = max(scale, 1.0)
    matrix = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = (i + 0.5) * scale
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), in_size)
        taps = np.arange(lo, hi)
        w = np.clip(1 - np.abs((taps - center + 0.5) / support), 0, None)
        matrix[i, lo:hi] = w / w.sum()
    return matrix


def _documented(image: Image.Image, pre: Preprocessing) -> np.ndarray:
    x = np.asarray(image, dtype=np.float64).transpose(2, 0, 1) / 255.0
    h, w = x.shape[1:]
    if pre.resize == "letterbox":
        new_h, new_w, top, left = letterbox_geometry(h, w, pre.img_size)
    else:
        new_h, new_w, top, left = center_crop_geometry(h, w, pre.img_size)
    resized = _weights(h, new_h) @ (x @ _weights(w, new_w).T)  # widths, then heights (float64: order is moot)
    mean = np.asarray(pre.mean)[:, None, None]
    if pre.resize == "letterbox":
        out = np.broadcast_to(mean, (3, pre.img_size, pre.img_size)).copy()
        out[:, top:top + new_h, left:left + new_w] = resized
    else:
        out = resized[:, top:top + pre.img_size, left:left + pre.img_size]
    return (out - mean) / np.asarray(pre.std)[:, None, None]


def _cases() -> list[Image.Image]:
    wide = load_rgb(next(PHOTOS.glob("imagenet_10_*.jpg")))      # 1024x683
    square = load_rgb(next(PHOTOS.glob("imagenet_00_*.jpg")))
    return [wide, square.crop((85, 0, 426, 512)), square.resize((37, 53))]


def _plain_pass(line: list[float], m: int) -> list[float]:
    """One resampling pass, docs/manifest.md's words in plain Python floats (IEEE double, one operation each)."""
    n = len(line)  # no shortcut for n == m: the formula itself must give the identity edgekit's skipped pass is
    scale = n / m
    support = scale if scale > 1.0 else 1.0
    out = []
    for i in range(m):
        center = (i + 0.5) * scale
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n)
        weights = []
        for j in range(lo, hi):
            t = 1.0 - abs((j - center + 0.5) / support)
            weights.append(t if t > 0.0 else 0.0)
        total = 0.0
        for weight in weights:  # in tap order (not sum(): Python >= 3.12 compensates float sums)
            total = total + weight
        acc = 0.0
        for k, weight in enumerate(weights):
            acc = acc + (weight / total) * line[lo + k]
        out.append(acc)
    return out


def _plain(image: Image.Image, pre: Preprocessing) -> np.ndarray:
    width, height = image.size
    pixels = list(image.getdata())
    size = pre.img_size
    if pre.resize == "letterbox":
        new_h, new_w, top, left = letterbox_geometry(height, width, size)
    else:
        new_h, new_w, top, left = center_crop_geometry(height, width, size)
    out = np.empty((3, size, size))
    for c in range(3):
        rows = [_plain_pass([pixels[y * width + x][c] / 255.0 for x in range(width)], new_w) for y in range(height)]
        columns = [_plain_pass([rows[y][x] for y in range(height)], new_h) for x in range(new_w)]
        for y in range(size):
            for x in range(size):
                if pre.resize == "letterbox":
                    inside = top <= y < top + new_h and left <= x < left + new_w
                    value = columns[x - left][y - top] if inside else pre.mean[c]
                else:
                    value = columns[x + left][y + top]
                out[c, y, x] = (value - pre.mean[c]) / pre.std[c]
    return out  # float64: the caller rounds to float32 once


def _tiny_cases() -> list[Image.Image]:
    wide, square = load_rgb(next(PHOTOS.glob("imagenet_10_*.jpg"))), load_rgb(next(PHOTOS.glob("imagenet_00_*.jpg")))
    return [square.resize((37, 53)), wide.resize((121, 80)), wide.resize((9, 6)).convert("L").convert("RGB"),
            square.resize((18, 25)), wide.resize((29, 20))]  # one pass of the same size (16 px crop, 29 px letterbox)


def test_the_integer_size_rules_on_the_1024x683_photograph():
    assert center_crop_geometry(683, 1024, 224) == (256, 383, 16, 79)  # 1024 * 256 / 683 = 383.8: floored
    assert center_crop_geometry(683, 1024, 64) == (73, 109, 4, 22)
    assert center_crop_geometry(53, 37, 64) == (104, 73, 20, 4)
    assert letterbox_geometry(683, 1024, 224) == (149, 224, 37, 0)
    assert letterbox_geometry(3, 6, 4) == (2, 4, 1, 0) and letterbox_geometry(1, 1000, 4) == (1, 4, 1, 0)


@pytest.mark.parametrize("rule", ["center_crop", "letterbox"])
@pytest.mark.parametrize("size", [16, 29])
def test_edgekit_is_bit_equal_to_a_plain_python_reading_of_the_contract(rule, size):
    pre = Preprocessing(img_size=size, resize=rule)  # ImageNet mean and std
    transform = eval_transform(pre)
    for image in _tiny_cases():  # 121x80 shrinks (many taps), 9x6 grows, some keep one side
        ours = transform(image)
        assert ours.dtype == torch.float32 and tuple(ours.shape) == (3, size, size)
        reference = _plain(image, pre)
        # the float64 values before the rounding (sensitive to any change of operation order), then the float32 tensor
        exact = normalised_float64(np.asarray(image).transpose(2, 0, 1), pre)
        differing = int((exact.view(np.uint64) != reference.view(np.uint64)).sum())
        assert differing == 0, f"{image.size} at {size} ({rule}): {differing} float64 values not bit-equal"
        assert np.array_equal(ours.numpy().view(np.uint32), reference.astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("rule", ["center_crop", "letterbox"])
@pytest.mark.parametrize("size", [64, 224])
def test_edgekit_equals_the_documented_contract_on_large_photographs(rule, size):
    pre = Preprocessing(img_size=size, resize=rule)
    transform = eval_transform(pre)
    for image in _cases():
        ours = transform(image)
        assert ours.dtype == torch.float32 and tuple(ours.shape) == (3, size, size)
        reference = _documented(image, pre)  # float64 matrices: another summation order, float32 rounding apart
        assert np.abs(ours.numpy() - reference).max() < 1e-6, f"{image.size} at {size} ({rule})"


def test_letterbox_padding_normalises_to_exactly_zero():
    pre = Preprocessing(img_size=64, resize="letterbox")
    wide = _cases()[0]
    tensor = eval_transform(pre)(wide)
    new_h, _, top, _ = letterbox_geometry(wide.height, wide.width, 64)
    assert torch.count_nonzero(tensor[:, :top]) == 0 and torch.count_nonzero(tensor[:, top + new_h:]) == 0
    assert torch.count_nonzero(tensor[:, top:top + new_h]) > 0


def test_yuv_reference_roundtrip_strides_and_rotation():
    rgb = np.asarray(_cases()[2])  # 37 x 53: odd sizes, chroma blocks cut at the edges
    nv21, planar = rgb_to_yuv420(rgb, pixel_stride=2, row_padding=5), rgb_to_yuv420(rgb, pixel_stride=1, row_padding=0)
    assert nv21.uv_pixel_stride == 2 and nv21.y_row_stride == 42 and len(nv21.u) == len(nv21.v)
    assert np.array_equal(yuv420_to_rgb(nv21), yuv420_to_rgb(planar))  # same samples, other memory layout
    back = yuv420_to_rgb(nv21).astype(int)
    assert np.abs(back - rgb).mean() < 3  # 4:2:0 loses chroma detail only (up to 44 levels at sharp colour edges)
    grey = np.full((4, 6, 3), 77, np.uint8)
    assert np.array_equal(yuv420_to_rgb(rgb_to_yuv420(grey)), grey)  # grey survives exactly
    turned = rotate_clockwise(rgb, 90)
    assert turned.shape == (37, 53, 3) and np.array_equal(turned[0], rgb[::-1, 0])  # top row = left column, upwards
