"""Detection data: a COCO or YOLO folder read into one in-memory form, its audit, and its seeded split.

Two layouts, told apart by what the folder holds (`detection_layout`):

    COCO   DIR/train/annotations.json, DIR/val/annotations.json (, DIR/test/annotations.json): each split folder
           holds its images, `file_name` relative to it; or DIR/annotations.json alone (one unsplit set)
    YOLO   DIR/data.yaml (`names`: a list or {index: name}; `train`/`val`/`test`: image folders or list files,
           relative to `path` or to DIR), DIR/images/..., DIR/labels/... (`images` -> `labels`, `.txt`: one
           `class cx cy w h` line per box, normalised to 0..1); without split entries, every image under DIR/images

Both become a `DetectionSet`: the class names (index 0 = the first class; a detector adds the background itself),
and per image its absolute path, split, size and boxes (`Box`: class index, x, y, width, height in pixels, COCO's
convention). Malformed input (unparsable JSON or YAML, missing fields, a box that is not four numbers, a class
out of range, an annotation of an unknown image) is one EdgekitError line naming the file; what a data set can
legitimately contain but should not (boxes outside the image or of zero area, images without boxes, duplicate
images, unreadable image files) is what `audit_detection` reports.

`prepare_detection` pools every image, splits by image (seeded, stratified by each image's rarest class, images
without boxes as a group of their own) and writes a prepared detection directory:

    OUT/classes.txt                 one class name per line (class index = line number - 1)
    OUT/source.txt                  the absolute data directory the image names are relative to
    OUT/train.json, val.json (, test.json)   COCO annotations (category ids 1..K in classes.txt order, `file_name`
                                    relative to source.txt), readable by pycocotools as they are
    OUT/dropped.txt, OUT/prepare.json
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from PIL import Image

from edgekit import contracts
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_text, remove_path, replace_folder, staging_folder, writable_folder
from edgekit.images import find_images

COCO_ANNOTATIONS = "annotations.json"
YOLO_CONFIG = "data.yaml"
SPLITS = ("train", "val", "test")
OUTSIDE_TOLERANCE_PX = 0.5  # a box may overhang the image by half a pixel (rounding) before it counts as outside
SMALL_AREA, MEDIUM_AREA = 32 ** 2, 96 ** 2  # COCO's size ranges (px²)


@dataclass(frozen=True)
class Box:
    label: int  # index into DetectionSet.classes
    x: float  # left, pixels
    y: float  # top
    width: float
    height: float

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def outside(self, image_width: int, image_height: int) -> bool:
        tol = OUTSIDE_TOLERANCE_PX
        return (self.x < -tol or self.y < -tol or self.x + self.width > image_width + tol
                or self.y + self.height > image_height + tol)

    def xyxy(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.x + self.width, self.y + self.height


@dataclass
class DetectionImage:
    path: Path  # absolute
    name: str  # relative to the data root, posix
    split: Optional[str]  # the source's split (None: an unsplit source)
    width: int  # as annotated (COCO) or as read from the file (YOLO); 0: unknown (unreadable file)
    height: int
    boxes: list[Box] = field(default_factory=list)
    source: str = ""  # the annotation file that describes it, for messages


@dataclass
class DetectionSet:
    root: Path
    layout: str  # "coco" or "yolo"
    classes: list[str]
    images: list[DetectionImage]

    def split(self, name: str) -> list[DetectionImage]:
        return [image for image in self.images if image.split == name]


# ----------------------------------------------------------------------------- finding the layout

def detection_layout(root: Path | str) -> Optional[str]:
    """"coco", "yolo", or None for a folder that is neither (a class folder, say)."""
    root = Path(root)
    if not root.is_dir():
        return None
    if (root / YOLO_CONFIG).is_file():
        return "yolo"
    if (root / COCO_ANNOTATIONS).is_file() or any((root / s / COCO_ANNOTATIONS).is_file() for s in SPLITS):
        return "coco"
    return None


def read_detection(root: Path | str) -> DetectionSet:
    """The COCO or YOLO folder `root` in the one in-memory form; one EdgekitError line for malformed input."""
    root = Path(root)
    if not root.is_dir():
        raise EdgekitError(f"data directory not found: {root}")
    layout = detection_layout(root)
    if layout == "coco":
        return read_coco(root)
    if layout == "yolo":
        return read_yolo(root)
    raise EdgekitError(f"{root} is not a detection folder: expected {COCO_ANNOTATIONS} in train/, val/ (COCO) "
                       f"or {YOLO_CONFIG} with images/ and labels/ (YOLO)")


# ----------------------------------------------------------------------------- COCO

def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EdgekitError(f"{path} cannot be read: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EdgekitError(f"{path} is not valid JSON: {str(error).splitlines()[0][:160]}") from None


def _coco_categories(data: dict, path: Path) -> list[tuple[int, str]]:
    categories = data.get("categories")
    if not isinstance(categories, list) or not categories:
        raise EdgekitError(f"{path}: 'categories' must be a non-empty list of {{id, name}}")
    result, seen = [], set()
    for i, category in enumerate(categories):
        if not isinstance(category, dict) or not isinstance(category.get("id"), int) or isinstance(category.get("id"), bool) \
                or not isinstance(category.get("name"), str) or not category["name"].strip():
            raise EdgekitError(f"{path}: categories[{i}] must have an integer 'id' and a non-empty 'name', got {category!r:.80}")
        if category["id"] in seen:
            raise EdgekitError(f"{path}: category id {category['id']} appears twice")
        seen.add(category["id"])
        result.append((category["id"], category["name"].strip()))
    names = [name for _, name in result]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise EdgekitError(f"{path}: category name(s) {', '.join(twice)} appear twice")
    return sorted(result)


def _coco_split(path: Path, root: Path, split: Optional[str],
                base: Optional[Path] = None) -> tuple[list[tuple[int, str]], list[DetectionImage]]:
    """One COCO file; `file_name` is relative to `base` (default: the file's folder) and must lie under `root`."""
    data = _load_json(path)
    if not isinstance(data, dict):
        raise EdgekitError(f"{path}: expected a COCO object with 'images', 'annotations' and 'categories'")
    categories = _coco_categories(data, path)
    index = {cid: i for i, (cid, _) in enumerate(categories)}
    images_field, annotations_field = data.get("images"), data.get("annotations", [])
    if not isinstance(images_field, list):
        raise EdgekitError(f"{path}: 'images' must be a list of {{id, file_name, width, height}}")
    if not isinstance(annotations_field, list):
        raise EdgekitError(f"{path}: 'annotations' must be a list")
    folder = base or path.parent
    images: dict[int, DetectionImage] = {}
    names: set[str] = set()
    for i, entry in enumerate(images_field):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int) or isinstance(entry.get("id"), bool) \
                or not isinstance(entry.get("file_name"), str) or not entry["file_name"]:
            raise EdgekitError(f"{path}: images[{i}] must have an integer 'id' and a 'file_name', got {entry!r:.80}")
        width, height = entry.get("width"), entry.get("height")
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise EdgekitError(f"{path}: images[{i}] ({entry['file_name']}) needs positive integer 'width' and "
                               f"'height', got {width!r} x {height!r}")
        if entry["id"] in images:
            raise EdgekitError(f"{path}: image id {entry['id']} appears twice")
        file = (folder / entry["file_name"]).resolve()
        if not file.is_relative_to(root):
            raise EdgekitError(f"{path}: images[{i}] file_name {entry['file_name']!r} points outside {root}")
        name = file.relative_to(root).as_posix()
        if name in names:
            raise EdgekitError(f"{path}: image file {entry['file_name']} is listed twice")
        names.add(name)
        images[entry["id"]] = DetectionImage(file, name, split, width, height, [], str(path))
    for i, entry in enumerate(annotations_field):
        if not isinstance(entry, dict):
            raise EdgekitError(f"{path}: annotations[{i}] is not an object")
        image = images.get(entry.get("image_id"))
        if image is None:
            raise EdgekitError(f"{path}: annotations[{i}] refers to image_id {entry.get('image_id')!r}, not in 'images'")
        label = index.get(entry.get("category_id"))
        if label is None:
            raise EdgekitError(f"{path}: annotations[{i}] has category_id {entry.get('category_id')!r}, not in 'categories'")
        bbox = entry.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_number(v) for v in bbox)):
            raise EdgekitError(f"{path}: annotations[{i}] 'bbox' must be 4 numbers [x, y, width, height], got {bbox!r:.80}")
        if entry.get("iscrowd", 0):
            continue  # crowd regions are not objects to detect (COCO's evaluation ignores them too)
        image.boxes.append(Box(label, *map(float, bbox)))
    return categories, list(images.values())


def read_coco(root: Path | str) -> DetectionSet:
    root = Path(root).resolve()
    files = [(s, root / s / COCO_ANNOTATIONS) for s in SPLITS if (root / s / COCO_ANNOTATIONS).is_file()]
    if not files:
        files = [(None, root / COCO_ANNOTATIONS)]
    categories, images = None, []
    for split, path in files:
        split_categories, split_images = _coco_split(path, root, split)
        if categories is None:
            categories, first = split_categories, path
        elif [name for _, name in split_categories] != [name for _, name in categories]:
            raise EdgekitError(f"{path}: its categories differ from those of {first}; every split needs the same list")
        images.extend(split_images)
    return DetectionSet(root, "coco", [name for _, name in categories], images)


# ----------------------------------------------------------------------------- YOLO

def _yolo_config(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EdgekitError(f"{path} cannot be read: {error.strerror or error}") from None
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise EdgekitError(f"{path} is not valid YAML: {' '.join(str(error).split())[:160]}") from None
    if not isinstance(data, dict):
        raise EdgekitError(f"{path}: expected a mapping with 'names' (and 'train', 'val')")
    return data


def _yolo_names(data: dict, path: Path) -> list[str]:
    names = data.get("names")
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise EdgekitError(f"{path}: 'names' must be numbered 0..{len(names) - 1}, got keys {sorted(names, key=str)!r:.80}")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not names or not all(isinstance(n, (str, int)) and str(n).strip() for n in names):
        raise EdgekitError(f"{path}: 'names' must be a non-empty list of class names (or {{0: name, ...}})")
    names = [str(n).strip() for n in names]
    if len(set(names)) != len(names):
        raise EdgekitError(f"{path}: class name(s) {', '.join(sorted({n for n in names if names.count(n) > 1}))} appear twice")
    if "nc" in data and data["nc"] != len(names):
        raise EdgekitError(f"{path}: 'nc' is {data['nc']!r} but 'names' has {len(names)} entries")
    return names


def _label_file(image: Path) -> Path:
    """YOLO's rule: the last `images` folder of the path becomes `labels`, the suffix `.txt`."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _yolo_split_images(entry, base: Path, config: Path, split: str) -> list[Path]:
    entries = entry if isinstance(entry, list) else [entry]
    found: list[Path] = []
    for item in entries:
        if not isinstance(item, str):
            raise EdgekitError(f"{config}: '{split}' must be a folder or list file (or a list of them), got {item!r:.80}")
        target = (base / item).resolve()
        if target.is_dir():
            found.extend(find_images(target))
        elif target.is_file() and target.suffix == ".txt":
            for line in target.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line:  # as YOLO: "./x" is relative to the list's folder; other relative paths here to the base
                    found.append((target.parent / line[2:] if line.startswith("./") else base / line).resolve())
        else:
            raise EdgekitError(f"{config}: '{split}' is {item}, which is neither a folder nor a .txt list under {base}")
    return found


def _yolo_boxes(label_file: Path, width: int, height: int, num_classes: int) -> list[Box]:
    if not label_file.is_file():
        return []  # YOLO's convention: no label file, no objects
    boxes = []
    try:
        lines = label_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise EdgekitError(f"{label_file} cannot be read as text: {error}") from None
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise EdgekitError(f"{label_file}:{number}: expected 'class cx cy w h' (5 numbers), got {len(fields)} "
                               f"fields (segmentation polygons are not read)")
        try:
            label, cx, cy, w, h = int(fields[0]), *map(float, fields[1:])
        except ValueError:
            raise EdgekitError(f"{label_file}:{number}: expected an integer class and 4 numbers, got {line.strip()[:80]!r}") from None
        if not all(map(math.isfinite, (cx, cy, w, h))):
            raise EdgekitError(f"{label_file}:{number}: box values must be finite numbers, got {line.strip()[:80]!r}")
        if not 0 <= label < num_classes:
            raise EdgekitError(f"{label_file}:{number}: class {label} is outside 0..{num_classes - 1} (data.yaml names)")
        boxes.append(Box(label, (cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height))
    return boxes


def read_yolo(root: Path | str) -> DetectionSet:
    root = Path(root).resolve()
    config = root / YOLO_CONFIG
    data = _yolo_config(config)
    names = _yolo_names(data, config)
    base = root
    if isinstance(data.get("path"), str) and data["path"].strip():
        base = (root / data["path"]).resolve()
        if base != root and not base.is_relative_to(root):
            base = root  # an absolute 'path' of another machine: resolve the splits against DIR, as YOLO users move sets
    split_entries = [(s, data[s]) for s in SPLITS if data.get(s)]
    if split_entries:
        listed = [(s, p) for s, entry in split_entries for p in _yolo_split_images(entry, base, config, s)]
    else:
        if not (root / "images").is_dir():
            raise EdgekitError(f"{config} names no 'train'/'val' and {root / 'images'} does not exist")
        listed = [(None, p) for p in find_images(root / "images")]
    images, seen = [], {}
    for split, path in listed:
        if path in seen:
            raise EdgekitError(f"{config}: image {path.name} is in both '{seen[path]}' and '{split}'")
        seen[path] = split
        if not path.is_relative_to(root):
            raise EdgekitError(f"{config}: image {path} is outside {root}")
        width, height = _image_size(path)
        boxes = _yolo_boxes(_label_file(path), width, height, len(names)) if width else []
        images.append(DetectionImage(path, path.relative_to(root).as_posix(), split, width, height, boxes,
                                     str(_label_file(path))))
    if not images:
        raise EdgekitError(f"{root}: data.yaml's splits hold no images")
    return DetectionSet(root, "yolo", names, images)


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except Exception:
        return 0, 0  # unreadable: the audit reports it


# ----------------------------------------------------------------------------- audit

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


def audit_detection(root: Path | str, *, on_start: Optional[Callable[[int], None]] = None,
                    on_file: Optional[Callable[[], None]] = None) -> DetectionAudit:
    """Read the folder (malformed annotations raise) and decode every image (bad files are reported)."""
    return _audit(read_detection(root), on_start, on_file)


def _audit(dataset: DetectionSet, on_start: Optional[Callable[[int], None]],
           on_file: Optional[Callable[[], None]]) -> DetectionAudit:
    if on_start is not None:
        on_start(len(dataset.images))
    checks = []
    for image in dataset.images:
        checks.append(check_image(image))
        if on_file is not None:
            on_file()
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


def coco_json(images: list[DetectionImage], classes: list[str]) -> dict:
    """COCO ground truth of `images` (ids from 1 in list order; category id = class index + 1)."""
    annotations = []
    for image_id, image in enumerate(images, 1):
        for box in image.boxes:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": box.label + 1,
                                "bbox": [box.x, box.y, box.width, box.height], "area": box.area, "iscrowd": 0})
    return {"images": [{"id": i, "file_name": image.name, "width": image.width, "height": image.height}
                       for i, image in enumerate(images, 1)],
            "annotations": annotations,
            "categories": [{"id": i + 1, "name": name} for i, name in enumerate(classes)]}


DETECTION_PREPARE_FLAGS = ("val", "test", "seed", "drop_duplicates")  # PrepareOptions fields that apply here


def prepare_detection(root: Path | str, out: Path | str, options, *, overwrite: bool = False,
                      on_start: Optional[Callable[[int], None]] = None,
                      on_file: Optional[Callable[[], None]] = None) -> DetectionPrepareReport:
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
    audit = _audit(dataset, on_start, on_file)

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


def read_prepared_detection(directory: Path | str) -> DetectionSet:
    """A prepared detection directory back in memory (split = the file it is listed in)."""
    directory = Path(directory)
    try:
        classes = [c for c in (directory / "classes.txt").read_text(encoding="utf-8").splitlines() if c]
        source = Path((directory / "source.txt").read_text(encoding="utf-8").strip())
    except OSError as error:
        raise EdgekitError(f"{directory} is not a prepared detection directory: {error.strerror or error}") from None
    images = []
    for split in SPLITS:
        path = directory / f"{split}.json"
        if path.is_file():
            categories, split_images = _coco_split(path, source, split, base=source)
            if [name for _, name in categories] != classes:
                raise EdgekitError(f"{path}: its categories differ from {directory / 'classes.txt'}")
            images.extend(split_images)
    return DetectionSet(source, "prepared", classes, images)
