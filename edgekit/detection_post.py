"""What an exported detector's one output means, and the one post-processing every runtime applies to it.

An exported detector (`edgekit export` of a detector's checkpoint; manifest `task: detection`) carries the backbone,
the SSDLite heads and the box decoding with its default boxes baked in. Its single output tensor is

    detections   N x A x (4 + K) float32, one row per default box (A of them), K = the object classes (labels.txt):
                 [x1, y1, x2, y2]  the decoded box, corners, normalised to the network's input frame (0 to 1,
                                   clipped), x to the right and y down, before the resize rule is undone
                 [p_0 ... p_K-1]   each object class's probability: a softmax over the background and the K
                                   classes, the background's column dropped (it is 1 minus their sum)

Non-maximum suppression is outside the graph, here, so that every runtime (and the Android app, which follows the
same words) applies it identically; its settings travel in the manifest (`detection.postprocess`):

    for each class k: the boxes whose p_k > score_threshold, the `candidates_per_class` best of them by p_k;
    all classes pooled, greedy NMS within each class (a box is dropped when its IoU with a kept box of the same
    class, taken in decreasing score order, is above iou_threshold; IoU of corner boxes, area (x2-x1)*(y2-y1));
    the kept boxes in decreasing score order (ties: the lower class, then the lower default-box index, first),
    at most max_detections.

This is torchvision's SSD post-processing (`SSD.postprocess_detections`: softmax, per-class threshold and top-k,
`batched_nms`, the first detections_per_img) in numpy; tests/test_detection_export.py checks the two agree.
Numpy only (no torch): runtimes, `edgekit eval` of an artifact and the app checks use it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgekit.errors import EdgekitError

BOX_COLUMNS = 4
LAYOUT = ("[x1, y1, x2, y2, p_0, ..., p_K-1] per default box: corners normalised to the input frame (0 to 1), "
          "then each object class's softmax probability (the background's column dropped)")


@dataclass(frozen=True)
class PostprocessSettings:
    """Non-maximum suppression's settings (the manifest's `detection.postprocess`)."""

    score_threshold: float
    iou_threshold: float
    max_detections: int
    candidates_per_class: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PostprocessSettings":
        try:
            settings = cls(float(data["score_threshold"]), float(data["iou_threshold"]), int(data["max_detections"]),
                           int(data["candidates_per_class"]))
        except (KeyError, TypeError, ValueError) as error:
            raise EdgekitError(f"detection.postprocess is not valid ({type(error).__name__}: {error})") from None
        if not (0 <= settings.score_threshold < 1 and 0 < settings.iou_threshold <= 1
                and settings.max_detections >= 1 and settings.candidates_per_class >= 1):
            raise EdgekitError(f"detection.postprocess is out of range: {settings.to_dict()}")
        return settings


@dataclass
class Detections:
    """One image's detections in the network's input frame (pixels, 0 to img_size): boxes M x 4 corners, scores M,
    labels M (object class index into labels.txt), in decreasing score order."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one corner box with each of M others (torchvision.ops.box_iou's formula)."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - intersection
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)


def pairwise_iou(boxes: np.ndarray) -> np.ndarray:
    """N x N IoU of corner boxes, element for element the arithmetic of box_iou (the same values, bit for bit)."""
    x1 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    x2 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
    y2 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
    intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = areas[:, None] + areas[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS, in decreasing score order (stable: an earlier index first among equal scores).
    The IoUs of the (at most candidates_per_class) boxes are computed once, as a matrix; the greedy pass then only
    reads rows of it."""
    order = np.argsort(-scores, kind="stable")
    suppressed = pairwise_iou(np.asarray(boxes)[order]) > iou_threshold
    kept = []
    alive = np.ones(len(order), dtype=bool)
    for position in range(len(order)):
        if not alive[position]:
            continue
        kept.append(order[position])
        alive[position + 1:] &= ~suppressed[position, position + 1:]
    return np.asarray(kept, dtype=np.int64)


def postprocess(output: np.ndarray, img_size: int, settings: PostprocessSettings) -> Detections:
    """One image's row of the `detections` output (A x (4 + K)) -> its detections after NMS (module doc)."""
    output = np.asarray(output, dtype=np.float32)
    if output.ndim != 2 or output.shape[1] <= BOX_COLUMNS:
        raise EdgekitError(f"a detector's output row must be A x (4 + classes), got shape {tuple(output.shape)}")
    boxes = output[:, :BOX_COLUMNS].astype(np.float64) * img_size
    probabilities = output[:, BOX_COLUMNS:]
    found_boxes, found_scores, found_labels, found_anchor = [], [], [], []
    for label in range(probabilities.shape[1]):
        score = probabilities[:, label]
        candidates = np.flatnonzero(score > settings.score_threshold)
        best = candidates[np.argsort(-score[candidates], kind="stable")][:settings.candidates_per_class]
        kept = best[nms(boxes[best], score[best].astype(np.float64), settings.iou_threshold)] if len(best) else best
        found_boxes.append(boxes[kept])
        found_scores.append(score[kept])
        found_labels.append(np.full(len(kept), label, dtype=np.int64))
        found_anchor.append(kept)
    scores = np.concatenate(found_scores) if found_scores else np.zeros(0, np.float32)
    labels = np.concatenate(found_labels) if found_labels else np.zeros(0, np.int64)
    anchors = np.concatenate(found_anchor) if found_anchor else np.zeros(0, np.int64)
    order = np.lexsort((anchors, labels, -scores.astype(np.float64)))[:settings.max_detections]
    all_boxes = np.concatenate(found_boxes) if found_boxes else np.zeros((0, 4))
    return Detections(all_boxes[order].reshape(-1, 4), scores[order].astype(np.float32), labels[order])


def match_detections(reference: Detections, candidate: Detections, iou: float = 0.5) -> dict:
    """How alike two detectors' outputs on one image are: each reference box (best score first) matched to the
    unmatched candidate box of its class with the highest IoU, when that IoU is at least `iou`."""
    used = np.zeros(len(candidate.scores), dtype=bool)
    ious, score_diffs = [], []
    for box, score, label in zip(reference.boxes, reference.scores, reference.labels):
        same = np.flatnonzero((candidate.labels == label) & ~used)
        if not len(same):
            continue
        overlaps = box_iou(box, candidate.boxes[same])
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou:
            used[same[best]] = True
            ious.append(float(overlaps[best]))
            score_diffs.append(abs(float(score) - float(candidate.scores[same[best]])))
    return {"reference_boxes": len(reference.scores), "candidate_boxes": len(candidate.scores),
            "matched": len(ious), "iou_sum": float(sum(ious)),
            "max_score_diff": max(score_diffs) if score_diffs else 0.0}
