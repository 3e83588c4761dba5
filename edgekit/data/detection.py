"""Detection data: a COCO or YOLO folder read into one in-memory form (its audit and seeded split:
edgekit/data/detection_prepare.py).

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

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from PIL import Image

from edgekit.errors import EdgekitError
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
