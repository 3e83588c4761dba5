"""Compose samples/detection-fashion: a small COCO-layout detection set made from the shipped Fashion-MNIST images.

Each 320x320 picture is a plain or smoothly textured colour background with 1 to 4 Fashion-MNIST items pasted at
random positions and sizes (48 to 128 px, tinted, blended by their own brightness, boxes overlapping at most
IoU 0.3); each box is the tight box of the pasted item's visible pixels, its class the item's folder. Seeded:
the same files every run (on the same Pillow/libjpeg).

    python scripts/make_detection_sample.py            # writes samples/detection-fashion (replacing it)
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "samples" / "fashion-mnist"
OUT = ROOT / "samples" / "detection-fashion"
SIZE = 320
SPLITS = {"train": 60, "val": 20}
ITEM_SIDES = (48, 128)  # pasted size range, px
MAX_ITEMS = 4
VISIBLE = 0.15  # an item's pixel counts as part of it (and of its box) above this brightness (0..1)
MAX_IOU = 0.3
JPEG_QUALITY = 88


def iou(a: tuple, b: tuple) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def background(rng: np.random.Generator) -> np.ndarray:
    """A plain colour, or a smooth texture: a gradient plus low-frequency waves between two colours."""
    first, second = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
    if rng.random() < 0.4:
        return np.broadcast_to(first, (SIZE, SIZE, 3)).astype(np.float64)
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    angle, frequency, phase = rng.uniform(0, np.pi), rng.uniform(1, 4), rng.uniform(0, 2 * np.pi)
    mix = 0.5 * (x * np.cos(angle) + y * np.sin(angle)) + 0.25 * (1 + np.sin(2 * np.pi * frequency * x + phase) *
                                                                  np.cos(2 * np.pi * frequency * y))
    mix = np.clip(mix, 0, 1)[..., None]
    return first * (1 - mix) + second * mix


def compose(rng: np.random.Generator, pool: list[tuple[Path, int]]) -> tuple[np.ndarray, list[tuple[int, tuple]]]:
    canvas = background(rng)
    placed: list[tuple[int, tuple]] = []
    for _ in range(int(rng.integers(1, MAX_ITEMS + 1))):
        path, label = pool[int(rng.integers(len(pool)))]
        side = int(rng.integers(ITEM_SIDES[0], ITEM_SIDES[1] + 1))
        with Image.open(path) as item:
            alpha = np.asarray(item.convert("L").resize((side, side), Image.Resampling.BILINEAR), np.float64) / 255
        rows, cols = np.nonzero(alpha > VISIBLE)
        if not len(rows):
            continue
        for _attempt in range(20):
            left, top = int(rng.integers(0, SIZE - side + 1)), int(rng.integers(0, SIZE - side + 1))
            box = (left + int(cols.min()), top + int(rows.min()), left + int(cols.max()) + 1, top + int(rows.max()) + 1)
            if all(iou(box, other) <= MAX_IOU for _, other in placed):
                break
        else:
            continue  # no free place for this item
        tint = rng.uniform(0, 255, 3)
        if np.abs(tint - canvas[top:top + side, left:left + side].mean((0, 1))).sum() < 150:
            tint = 255 - tint  # keep the item visible against the background around it
        weight = np.clip(alpha * 1.2, 0, 1)[..., None]
        patch = canvas[top:top + side, left:left + side]
        canvas[top:top + side, left:left + side] = patch * (1 - weight) + tint * weight
        placed.append((label, box))
    return canvas, placed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    classes = sorted(p.name for p in SOURCE.iterdir() if p.is_dir())
    pool = [(path, label) for label, name in enumerate(classes) for path in sorted((SOURCE / name).glob("*.png"))]
    rng = np.random.default_rng(args.seed)
    if args.out.exists():
        shutil.rmtree(args.out)
    for split, count in SPLITS.items():
        folder = args.out / split
        folder.mkdir(parents=True)
        images, annotations = [], []
        for index in range(count):
            canvas, placed = compose(rng, pool)
            name = f"{split}_{index:03d}.jpg"
            Image.fromarray(np.round(canvas).astype(np.uint8)).save(folder / name, quality=JPEG_QUALITY)
            images.append({"id": index + 1, "file_name": name, "width": SIZE, "height": SIZE})
            for label, (x1, y1, x2, y2) in placed:
                annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": label + 1,
                                    "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
        coco = {"info": {"description": "edgekit detection sample: Fashion-MNIST items pasted on backgrounds "
                                        "(scripts/make_detection_sample.py)"},
                "images": images, "annotations": annotations,
                "categories": [{"id": i + 1, "name": name} for i, name in enumerate(classes)]}
        (folder / "annotations.json").write_text(json.dumps(coco, indent=1) + "\n", encoding="utf-8")
        print(f"{split}: {count} images, {len(annotations)} boxes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
