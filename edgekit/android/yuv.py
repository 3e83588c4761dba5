"""Reference YUV_420_888 conversions (full-range BT.601, as Android cameras deliver frames).

`yuv420_to_rgb` is the contract the app's `dev.edgekit.core.Yuv.toRgb` must equal byte for byte: exact integer
arithmetic (docs/manifest.md, "YUV_420_888 to RGB"). `rgb_to_yuv420` makes camera-like planes from an RGB image
for the fixtures (padded rows, pixel stride 1 or 2); the app never does this direction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Yuv420Planes:
    """The three buffers a camera's Image.getPlanes() gives, as bytes, and their strides."""

    width: int
    height: int
    y: bytes
    u: bytes
    v: bytes
    y_row_stride: int
    uv_row_stride: int
    uv_pixel_stride: int


def rgb_to_yuv420(rgb: np.ndarray, *, row_padding: int = 16, pixel_stride: int = 2) -> Yuv420Planes:
    """uint8 HxWx3 -> full-range BT.601 (JFIF) planes, chroma averaged over each 2x2 block (edge blocks over the
    pixels they have), rows padded by `row_padding` bytes. Pixel stride 2 interleaves V,U as NV21 does:
    the V buffer starts at byte 0 of the shared memory and U at byte 1, each as long as Android makes it
    (ending at its last sample)."""
    height, width, _ = rgb.shape
    x = rgb.astype(np.float64)
    y = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    cb = 128 - 0.168736 * x[..., 0] - 0.331264 * x[..., 1] + 0.5 * x[..., 2]
    cr = 128 + 0.5 * x[..., 0] - 0.418688 * x[..., 1] - 0.081312 * x[..., 2]
    ch, cw = (height + 1) // 2, (width + 1) // 2

    def subsample(plane: np.ndarray) -> np.ndarray:
        padded = np.pad(plane, ((0, 2 * ch - height), (0, 2 * cw - width)), constant_values=np.nan)
        return np.nanmean(padded.reshape(ch, 2, cw, 2), axis=(1, 3))

    def to_u8(plane: np.ndarray) -> np.ndarray:
        return np.clip(np.round(plane), 0, 255).astype(np.uint8)

    y8, u8, v8 = to_u8(y), to_u8(subsample(cb)), to_u8(subsample(cr))
    y_stride = width + row_padding
    y_buf = np.zeros((height, y_stride), np.uint8)
    y_buf[:, :width] = y8
    y_bytes = y_buf.tobytes()[: (height - 1) * y_stride + width]
    uv_stride = cw * pixel_stride + row_padding
    last = (ch - 1) * uv_stride + (cw - 1) * pixel_stride + 1
    if pixel_stride == 1:
        u_buf, v_buf = np.zeros((ch, uv_stride), np.uint8), np.zeros((ch, uv_stride), np.uint8)
        u_buf[:, :cw], v_buf[:, :cw] = u8, v8
        return Yuv420Planes(width, height, y_bytes, u_buf.tobytes()[:last], v_buf.tobytes()[:last],
                            y_stride, uv_stride, 1)
    if pixel_stride != 2:
        raise ValueError("pixel stride must be 1 or 2")
    vu = np.zeros((ch, uv_stride), np.uint8)
    vu[:, 0:2 * cw:2], vu[:, 1:2 * cw:2] = v8, u8
    flat = vu.tobytes()
    return Yuv420Planes(width, height, y_bytes, flat[1:1 + last], flat[:last], y_stride, uv_stride, 2)


def yuv420_to_rgb(planes: Yuv420Planes) -> np.ndarray:
    """The app's conversion, exactly: integer BT.601 full range, nearest chroma sample -> uint8 HxWx3."""
    h, w = planes.height, planes.width
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    y = np.frombuffer(planes.y, np.uint8)[rows * planes.y_row_stride + cols].astype(np.int32)
    c = (rows // 2) * planes.uv_row_stride + (cols // 2) * planes.uv_pixel_stride
    d = np.frombuffer(planes.u, np.uint8)[c].astype(np.int32) - 128
    e = np.frombuffer(planes.v, np.uint8)[c].astype(np.int32) - 128
    r = y + ((91881 * e + 32768) >> 16)
    g = y + ((-22554 * d - 46802 * e + 32768) >> 16)
    b = y + ((116130 * d + 32768) >> 16)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def rotate_clockwise(rgb: np.ndarray, degrees: int) -> np.ndarray:
    """HxWx3 turned clockwise by a multiple of 90 degrees (the app's Rotation.rotate)."""
    if degrees % 90:
        raise ValueError("rotation must be a multiple of 90 degrees")
    return np.ascontiguousarray(np.rot90(rgb, k=-(degrees // 90) % 4, axes=(0, 1)))
