"""COCO detection metrics (pycocotools' COCOeval, the maintained implementation) and the resize rule's geometry.

A detector sees each image after its resize rule (`resize`: both sides to img_size; `letterbox`: the longer side
to img_size, the rest padded, as edgekit.preprocess.letterbox_geometry). Its boxes are in that img_size x img_size
frame; `to_image_boxes` maps them back to the original image's pixels, where the ground truth lives, before
COCOeval scores them.

    geometry = resize_geometry(width, height, img_size, "letterbox")
    boxes = to_image_boxes(network_boxes_xyxy, geometry)
    report = coco_map(images, classes, [ImagePredictions(boxes, scores, labels), ...])   # mAP, mAP@.5, per class
    found, predictions = graph_predictions(outputs, images, preprocessing, settings)      # an exported graph's

Torch-free (numpy and pycocotools); pycocotools' own printing is captured, nothing is printed here.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.preprocess import DETECTION_RESIZE_RULES, letterbox_geometry


@dataclass(frozen=True)
class Geometry:
    """network x = image x * scale_x + pad_left (y likewise), for one image under one resize rule."""

    width: int  # the original image
    height: int
    scale_x: float
    scale_y: float
    pad_left: int = 0
    pad_top: int = 0


def resize_geometry(width: int, height: int, img_size: int, rule: str) -> Geometry:
    if rule not in DETECTION_RESIZE_RULES:
        raise EdgekitError(f"a detector's resize rule is one of {', '.join(DETECTION_RESIZE_RULES)}, got {rule!r}")
    if width < 1 or height < 1:
        raise EdgekitError(f"an image of {width} x {height} px cannot be resized")
    if rule == "resize":
        return Geometry(width, height, img_size / width, img_size / height)
    new_h, new_w, top, left = letterbox_geometry(height, width, img_size)
    return Geometry(width, height, new_w / width, new_h / height, left, top)


def to_network_boxes(boxes: np.ndarray, g: Geometry) -> np.ndarray:
    """N x 4 xyxy boxes in image pixels -> the network's img_size frame."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return boxes * [g.scale_x, g.scale_y, g.scale_x, g.scale_y] + [g.pad_left, g.pad_top, g.pad_left, g.pad_top]


def to_image_boxes(boxes: np.ndarray, g: Geometry) -> np.ndarray:
    """N x 4 xyxy boxes in the network's frame -> image pixels, clipped to the image."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = (boxes - [g.pad_left, g.pad_top, g.pad_left, g.pad_top]) / [g.scale_x, g.scale_y, g.scale_x, g.scale_y]
    out[:, 0::2] = out[:, 0::2].clip(0, g.width)
    out[:, 1::2] = out[:, 1::2].clip(0, g.height)
    return out


@dataclass
class ImagePredictions:
    """One image's detections in its own pixels: boxes N x 4 (x1, y1, x2, y2), scores N, labels N (class index)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


COCO_MAX_DETECTIONS = 100  # COCOeval's maxDets for mAP, per image and class: lower-scored ones change nothing


def _best_per_class(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices of each class's COCO_MAX_DETECTIONS highest scores (COCOeval sorts, stably, and cuts the same way)."""
    order = np.argsort(-scores, kind="stable")
    kept, seen = [], {}
    for index in order:
        label = int(labels[index])
        seen[label] = seen.get(label, 0) + 1
        if seen[label] <= COCO_MAX_DETECTIONS:
            kept.append(index)
    return np.asarray(kept, dtype=np.int64)


@dataclass
class MapReport:
    map: float  # COCO mAP@[.5:.95], all areas, 100 detections per image
    map50: float  # mAP@.5
    map75: float
    per_class: list[dict]  # class, ap, ap50, boxes (ground-truth count); ap None for a class without boxes here
    num_images: int
    num_boxes: int
    num_detections: int

    def to_dict(self) -> dict:
        return {"map": self.map, "map50": self.map50, "map75": self.map75, "per_class": self.per_class,
                "num_images": self.num_images, "num_boxes": self.num_boxes, "num_detections": self.num_detections,
                "method": "pycocotools COCOeval (bbox): mAP@[.5:.95] and mAP@.5, area all, maxDets 100"}


def coco_map(images: list, classes: list[str], predictions: list[ImagePredictions]) -> MapReport:
    """COCO mAP of `predictions` (one per image, in image pixels) against `images`
    (edgekit.data.detection.DetectionImage: their boxes are the ground truth)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from edgekit.data.detection import coco_json

    if len(predictions) != len(images):
        raise EdgekitError(f"{len(predictions)} prediction lists for {len(images)} images")
    if not images:
        raise EdgekitError("no images to evaluate")
    truth = coco_json(images, classes)
    num_boxes = len(truth["annotations"])
    results = []
    given = sum(len(np.asarray(found.scores).reshape(-1)) for found in predictions)
    for image_id, found in enumerate(predictions, 1):
        boxes = np.asarray(found.boxes, dtype=np.float64).reshape(-1, 4)
        scores, labels = np.asarray(found.scores).reshape(-1), np.asarray(found.labels).reshape(-1)
        best = _best_per_class(scores, labels)  # all that COCOeval reads (maxDets 100 per image and class)
        for (x1, y1, x2, y2), score, label in zip(boxes[best], scores[best], labels[best]):
            if not 0 <= int(label) < len(classes):
                raise EdgekitError(f"a detection of class index {int(label)}: the model has {len(classes)} classes")
            results.append({"image_id": image_id, "category_id": int(label) + 1, "score": float(score),
                            "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]})
    counts = [sum(1 for a in truth["annotations"] if a["category_id"] == i + 1) for i in range(len(classes))]
    if not results or num_boxes == 0:  # COCOeval cannot load an empty result list; nothing found scores 0
        per_class = [{"class": c, "ap": 0.0 if n else None, "ap50": 0.0 if n else None, "boxes": n}
                     for c, n in zip(classes, counts)]
        return MapReport(0.0, 0.0, 0.0, per_class, len(images), num_boxes, given)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools reports its steps on stdout
        ground = COCO()
        ground.dataset = {"info": {}, **truth}
        ground.createIndex()
        detections = ground.loadRes(results)
        evaluation = COCOeval(ground, detections, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    precision = evaluation.eval["precision"]  # T (IoU) x R (recall) x K (class) x A (area) x M (maxDets)
    per_class = []
    for k, (name, count) in enumerate(zip(classes, counts)):
        values = precision[:, :, k, 0, -1]
        ap = float(values[values > -1].mean()) if count and (values > -1).any() else None
        at50 = precision[0, :, k, 0, -1]
        ap50 = float(at50[at50 > -1].mean()) if count and (at50 > -1).any() else None
        per_class.append({"class": name, "ap": ap, "ap50": ap50, "boxes": count})
    clean = lambda v: max(0.0, float(v))  # COCOeval's -1: no ground truth in that range
    return MapReport(clean(stats[0]), clean(stats[1]), clean(stats[2]), per_class, len(images), num_boxes, given)


def graph_predictions(outputs, images: list, preprocessing, settings,
                      post_ms: list | None = None) -> tuple[list, list[ImagePredictions]]:
    """An exported detector's `detections` outputs (N x A x (4 + K), one per image) -> (edgekit.detection_post's
    Detections in the network frame, ImagePredictions in each image's pixels): NMS by edgekit.detection_post, then
    the resize rule undone. `images`: edgekit.data.detection.DetectionImage (their sizes; read from the file where
    the annotations lack them). `post_ms`, when given, receives each image's NMS time in milliseconds."""
    import time

    from edgekit.detection_post import postprocess
    from edgekit.preprocess import load_rgb

    size, rule = preprocessing.img_size, preprocessing.resize
    found, in_pixels = [], []
    for output, image in zip(outputs, images):
        started = time.perf_counter()
        detections = postprocess(output, size, settings)
        if post_ms is not None:
            post_ms.append((time.perf_counter() - started) * 1000.0)
        width, height = (image.width, image.height) if image.width and image.height else load_rgb(image.path).size
        found.append(detections)
        in_pixels.append(ImagePredictions(to_image_boxes(detections.boxes, resize_geometry(width, height, size, rule)),
                                          detections.scores, detections.labels))
    return found, in_pixels

