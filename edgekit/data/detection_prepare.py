"""A detection folder's audit and its seeded split by image (the folder itself is read by edgekit.data.detection).

`audit_detection` reports boxes per class, box sizes, boxes outside the image or of zero area, images without boxes,
duplicate and unreadable images; `prepare_detection` pools every image, splits by image (seeded, stratified by each
image's rarest class, images without boxes as a group of their own) and writes a prepared detection directory
(docs/detection.md; edgekit.data.detection.read_prepared_detection reads it back).
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from PIL import Image

from edgekit import contracts
from edgekit.data.audit import DECODING
from edgekit.data.detection import (MEDIUM_AREA, SMALL_AREA, SPLITS, Box, DetectionImage, DetectionSet, coco_json,
                                    read_detection)
from edgekit.errors import EdgekitError
from edgekit.progress import OnProgress, reporter
from edgekit.fileio import atomic_write_text, remove_path, replace_folder, staging_folder, writable_folder


@dataclass
class ImageCheck:
    image: DetectionImage
    sha256: str = ""
    error: Optional[str] = None  # why the file could not be read or decoded
    size_mismatch: Optional[str] = None  # the annotation's size against the file's


def check_image(image: DetectionImage) -> ImageCheck:
    """Hash and decode one image file; what is wrong with it is recorded, never raised."""
    try:
        data = image.path.read_bytes()
    except OSError as error:
        return ImageCheck(image, error=f"cannot be read: {error.strerror or error}")
    check = ImageCheck(image, sha256=hashlib.sha256(data).hexdigest())
    try:
        with Image.open(image.path) as opened:
            size = opened.size
            opened.load()
        if size != (image.width, image.height):
            check.size_mismatch = f"annotated {image.width}x{image.height}, file is {size[0]}x{size[1]}"
    except Exception as error:
        check.error = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return check


def _spread(values: list[float]) -> dict:
    if not values:
        return {"min": None, "median": None, "max": None}
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


@dataclass
class DetectionAudit:
    dataset: DetectionSet
    checks: list[ImageCheck]

    def boxes_per_class(self) -> dict[str, int]:
        counts = {name: 0 for name in self.dataset.classes}
        for image in self.dataset.images:
            for box in image.boxes:
                counts[self.dataset.classes[box.label]] += 1
        return counts

    def images_per_class(self) -> dict[str, int]:
        counts = {name: 0 for name in self.dataset.classes}
        for image in self.dataset.images:
            for label in {box.label for box in image.boxes}:
                counts[self.dataset.classes[label]] += 1
        return counts

    def zero_area(self) -> list[tuple[DetectionImage, Box]]:
        return [(i, b) for i in self.dataset.images for b in i.boxes if b.width <= 0 or b.height <= 0]

    def outside(self) -> list[tuple[DetectionImage, Box]]:
        return [(i, b) for i in self.dataset.images for b in i.boxes if i.width and b.outside(i.width, i.height)]

    def without_boxes(self) -> list[DetectionImage]:
        return [i for i in self.dataset.images if not i.boxes]

    def duplicates(self) -> list[list[DetectionImage]]:
        by_hash: dict[str, list[DetectionImage]] = {}
        for check in self.checks:
            if check.sha256:
                by_hash.setdefault(check.sha256, []).append(check.image)
        return [sorted(group, key=lambda i: i.name) for group in by_hash.values() if len(group) > 1]

    def unreadable(self) -> list[ImageCheck]:
        return [c for c in self.checks if c.error]

    def box_sizes(self) -> dict:
        boxes = [(i, b) for i in self.dataset.images for b in i.boxes if b.width > 0 and b.height > 0]
        areas = [b.area for _, b in boxes]
        relative = [math.sqrt(b.area / (i.width * i.height)) for i, b in boxes if i.width and i.height]
        return {"width_px": _spread([b.width for _, b in boxes]), "height_px": _spread([b.height for _, b in boxes]),
                "relative_side": _spread(relative),  # sqrt(box area / image area)
                "small": sum(a < SMALL_AREA for a in areas), "medium": sum(SMALL_AREA <= a < MEDIUM_AREA for a in areas),
                "large": sum(a >= MEDIUM_AREA for a in areas)}

    def to_dict(self) -> dict:
        data = self.dataset
        box = lambda image, b: {"image": image.name, "class": data.classes[b.label],  # noqa: E731
                                "bbox": [round(v, 2) for v in (b.x, b.y, b.width, b.height)]}
        splits = {s: len(data.split(s)) for s in SPLITS if data.split(s)}
        return {
            "schema": contracts.DETECTION_AUDIT,
            "task": "detection",
            "root": str(data.root),
            "layout": data.layout,
            "classes": data.classes,
            "num_images": len(data.images),
            "splits": splits or {"unsplit": len(data.images)},
            "num_boxes": sum(len(i.boxes) for i in data.images),
            "boxes_per_class": self.boxes_per_class(),
            "images_per_class": self.images_per_class(),
            "boxes_per_image": _spread([len(i.boxes) for i in data.images]),
            "box_sizes": self.box_sizes(),
            "outside_image": [box(i, b) for i, b in self.outside()],
            "zero_area": [box(i, b) for i, b in self.zero_area()],
            "without_boxes": [i.name for i in self.without_boxes()],
            "duplicates": [[i.name for i in group] for group in self.duplicates()],
            "unreadable": [{"image": c.image.name, "reason": c.error} for c in self.unreadable()],
            "size_mismatch": [{"image": c.image.name, "reason": c.size_mismatch} for c in self.checks if c.size_mismatch],
        }


def audit_detection(root: Path | str, *, on_progress: OnProgress | None = None) -> DetectionAudit:
    """Read the folder (malformed annotations raise) and decode every image (bad files are reported); `on_progress`
    gets a "decoding images" task with one step per image (edgekit.progress)."""
    return _audit(read_detection(root), on_progress)


def _audit(dataset: DetectionSet, on_progress: OnProgress | None) -> DetectionAudit:
    checks = []
    with reporter(on_progress).task(DECODING, len(dataset.images)) as advance:
        for image in dataset.images:
            checks.append(check_image(image))
            advance()
    return DetectionAudit(dataset, checks)


def write_detection_audit(audit: DetectionAudit, out_dir: Path | str) -> list[Path]:
    """audit.json in out_dir (never inside the data directory)."""
    from edgekit.data.audit import check_out_dir

    out_dir = check_out_dir(Path(out_dir), audit.dataset.root)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "audit.json"
    atomic_write_text(path, json.dumps(audit.to_dict(), indent=2) + "\n")
    return [path]


# ----------------------------------------------------------------------------- prepare

def stratification_groups(images: list[DetectionImage], num_classes: int) -> list[int]:
    """Each image's group for the split: its rarest class over the whole set (num_classes: images without boxes), so
    every class with two or more images reaches train and val."""
    counts = [0] * num_classes
    for image in images:
        for label in {b.label for b in image.boxes}:
            counts[label] += 1
    return [min({b.label for b in image.boxes}, key=lambda c: (counts[c], c)) if image.boxes else num_classes
            for image in images]


@dataclass
class DetectionPrepareReport:
    out: Path
    source: Path
    classes: list[str]
    options: dict
    splits: dict[str, list[DetectionImage]]
    dropped: list[tuple[str, str, str]] = field(default_factory=list)  # (image name, kind, detail)

    def boxes_per_split(self) -> dict[str, dict[str, int]]:
        result = {}
        for name, images in self.splits.items():
            counts = {c: 0 for c in self.classes}
            for image in images:
                for box in image.boxes:
                    counts[self.classes[box.label]] += 1
            result[name] = counts
        return result

    def to_dict(self) -> dict:
        dropped: dict[str, int] = {}
        for _, kind, _ in self.dropped:
            dropped[kind] = dropped.get(kind, 0) + 1
        return {"schema": contracts.PREPARED_DETECTION, "task": "detection", "source": str(self.source), "out": str(self.out),
                "options": self.options, "seed": self.options["seed"], "classes": self.classes,
                "split_sizes": {name: len(images) for name, images in self.splits.items()},
                "boxes": self.boxes_per_split(), "dropped": dropped}


DETECTION_PREPARE_FLAGS = ("val", "test", "seed", "drop_duplicates")  # PrepareOptions fields that apply here


def prepare_detection(root: Path | str, out: Path | str, options, *, overwrite: bool = False,
                      on_progress: OnProgress | None = None) -> DetectionPrepareReport:
    """Split the detection folder `root` by image into the prepared directory `out` (see the module doc).

    `options` is edgekit.data.prepare.PrepareOptions; of its fields only --val, --test, --seed and --drop-duplicates
    apply to boxes (the others name class folders or image sizes: refused when set). Unreadable images and
    images whose file does not match its annotated size are dropped and listed; the rest are kept as they are
    (the audit reports boxes outside the image or of zero area)."""
    from edgekit.data.folder import stratified_split
    from edgekit.data.prepare import check_out

    options.check()
    defaults = type(options)()
    unused = [f"--{name.replace('_', '-')}" for name in vars(options)
              if name not in DETECTION_PREPARE_FLAGS and getattr(options, name) != getattr(defaults, name)]
    if unused:
        raise EdgekitError(f"{', '.join(unused)} applies to class folders, not to a detection folder; "
                           "a detection folder takes --val, --test, --seed and --drop-duplicates")
    dataset = read_detection(root)
    out = check_out(Path(out), dataset.root, overwrite)
    writable_folder(out.parent, "--out", create=False, shown=out)  # OUT is built beside itself: before decoding
    audit = _audit(dataset, on_progress)

    kept, dropped, first_with_hash = [], [], {}
    for check in sorted(audit.checks, key=lambda c: c.image.name):
        image = check.image
        if check.error:
            dropped.append((image.name, "unreadable", check.error))
        elif check.size_mismatch:
            dropped.append((image.name, "size-mismatch", check.size_mismatch))
        elif options.drop_duplicates and check.sha256 in first_with_hash:
            dropped.append((image.name, "duplicate", f"same bytes as {first_with_hash[check.sha256]}"))
        else:
            first_with_hash.setdefault(check.sha256, image.name)
            kept.append(image)
    if len(kept) < 2:
        raise EdgekitError(f"{dataset.root}: {len(kept)} usable image(s) left; a split needs at least 2 (nothing was written)")
    groups = stratification_groups(kept, len(dataset.classes))
    by_path = {image.path: image for image in kept}
    fractions = {"train": 1.0 - options.val - options.test, "val": options.val,
                 **({"test": options.test} if options.test > 0 else {})}
    split = stratified_split([(image.path, group) for image, group in zip(kept, groups)], fractions, options.seed)
    splits = {name: sorted((by_path[path] for path, _ in samples), key=lambda i: i.name)
              for name, samples in split.items()}
    report = DetectionPrepareReport(out, dataset.root, dataset.classes, {**options.to_dict()}, splits, dropped)

    build_dir = staging_folder(out, "partial")
    try:
        (build_dir / "classes.txt").write_text("".join(c + "\n" for c in dataset.classes), encoding="utf-8")
        (build_dir / "source.txt").write_text(str(dataset.root) + "\n", encoding="utf-8")
        for name, images in splits.items():
            (build_dir / f"{name}.json").write_text(json.dumps(coco_json(images, dataset.classes)) + "\n", encoding="utf-8")
        (build_dir / "dropped.txt").write_text("".join(f"{n}\t{k}\t{d}\n" for n, k, d in dropped), encoding="utf-8")
        (build_dir / "prepare.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
        replace_folder(build_dir, out)
    finally:
        remove_path(build_dir)
    return report

