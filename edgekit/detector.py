"""A detector at inference and its inputs, shared by training (edgekit.train.detection) and evaluation
(edgekit.detection_eval), so that later stages need not import edgekit.train:

    build_detector_for(model, num_classes, img_size)   the SSD for K classes + background, its transform at img_size
    detector_preprocessing(model, img_size, rule)      what the checkpoint records (its own mean/std, the rule)
    apply_resize_rule(image, boxes, preprocessing)     plain resize or letterbox, boxes following (never a crop)
    DetectionDataset, collate                          images in [0, 1] at img_size with their targets, as lists
    predict_images(model, loader, images, ...)         decoded detections (after NMS) back in each image's pixels
    DetectorGraph(detector)                            what an exported detector runs: a normalised batch in, one
                                                       `detections` tensor out (edgekit.detection_post's layout)
    postprocess_settings(detector)                     its NMS settings, for the manifest
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgekit.data.detection import DetectionImage
from edgekit.detection_metrics import ImagePredictions, resize_geometry, to_image_boxes
from edgekit.errors import EdgekitError
from edgekit.preprocess import Preprocessing, load_rgb
from edgekit.progress import OnProgress, Reporter, reporter

MIN_BOX_SIDE = 1.0  # px after augmentation: thinner boxes are dropped (SanitizeBoundingBoxes), SSD refuses them


def is_prepared_detection(path: Path) -> bool:
    """A prepared detection directory (`edgekit data prepare`, or a detector's RUN/splits/)."""
    return (path / "classes.txt").is_file() and (path / "train.json").is_file()


def build_detector_for(model: str, num_classes: int, img_size: int) -> nn.Module:
    """The detector for `num_classes` object classes (+ the background), its input transform at img_size
    (torchvision's GeneralizedRCNNTransform with a fixed size: an image already at that size passes unchanged)."""
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    from edgekit.models.ssdlite import build_detector

    detector = build_detector(model, num_classes=num_classes + 1)
    t = detector.transform
    detector.transform = GeneralizedRCNNTransform(img_size, img_size, t.image_mean, t.image_std, size_divisible=1,
                                                  fixed_size=(img_size, img_size))
    return detector


def detector_preprocessing(model: nn.Module, img_size: int, resize: str) -> Preprocessing:
    """The detector normalises inside its transform (ImageNet's for the zoo's); recorded for export."""
    t = model.transform
    return Preprocessing(img_size=img_size, mean=tuple(t.image_mean), std=tuple(t.image_std), resize=resize)


def apply_resize_rule(image, boxes, preprocessing: Preprocessing):
    """(image, boxes) -> img_size x img_size under the rule: `resize` (plain, aspect not kept) or `letterbox` (the
    longer side to img_size, centred, padded with the mean colour); boxes follow (tv_tensors dispatch)."""
    from torchvision.transforms.v2 import functional as F

    size = preprocessing.img_size
    height, width = image.shape[-2:]
    g = resize_geometry(width, height, size, preprocessing.resize)
    new_w, new_h = round(width * g.scale_x), round(height * g.scale_y)
    image = F.resize(image, [new_h, new_w], antialias=True)
    boxes = F.resize(boxes, [new_h, new_w])
    if preprocessing.resize == "letterbox":
        padding = [g.pad_left, g.pad_top, size - new_w - g.pad_left, size - new_h - g.pad_top]
        fill = [int(round(255 * m)) for m in preprocessing.mean]
        image = F.pad(image, padding, fill=fill)
        boxes = F.pad(boxes, padding)
    return image, boxes


class DetectionDataset(torch.utils.data.Dataset):
    """(image float 3 x S x S in [0, 1], {"boxes": xyxy in the S x S frame, "labels": class index + 1}, index)."""

    def __init__(self, images: list[DetectionImage], preprocessing: Preprocessing, augment=None):
        self.images = images
        self.preprocessing = preprocessing
        self.augment = augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from torchvision import tv_tensors
        from torchvision.transforms.v2 import functional as F

        item = self.images[index]
        try:
            picture = np.asarray(load_rgb(item.path))
        except EdgekitError:
            raise
        except Exception as error:
            raise EdgekitError(f"cannot read {item.path}: {error}") from None
        image = tv_tensors.Image(torch.from_numpy(picture.copy()).permute(2, 0, 1))
        height, width = image.shape[-2:]
        xyxy = torch.tensor([b.xyxy() for b in item.boxes], dtype=torch.float32).reshape(-1, 4)
        boxes = tv_tensors.BoundingBoxes(xyxy, format="XYXY", canvas_size=(height, width))
        labels = torch.tensor([b.label + 1 for b in item.boxes], dtype=torch.int64)
        if self.augment is not None and len(labels):  # RandomIoUCrop needs boxes to measure overlaps against
            image, target = self.augment(image, {"boxes": boxes, "labels": labels})
            boxes, labels = target["boxes"], target["labels"]
        image, boxes = apply_resize_rule(image, boxes, self.preprocessing)
        if self.augment is not None:  # training: SSD refuses boxes without area
            from torchvision.transforms import v2

            _, target = v2.SanitizeBoundingBoxes(min_size=MIN_BOX_SIDE)(image, {"boxes": boxes, "labels": labels})
            boxes, labels = target["boxes"], target["labels"]
        image = F.to_dtype(image, torch.float32, scale=True).as_subclass(torch.Tensor)
        return image, {"boxes": boxes.as_subclass(torch.Tensor).float(), "labels": labels}, index


def collate(batch):
    """Lists, not stacks: every image has its own number of boxes."""
    images, targets, indices = zip(*batch)
    return list(images), list(targets), list(indices)


@torch.no_grad()
def predict_images(model: nn.Module, loader, images: list[DetectionImage], preprocessing: Preprocessing,
                   device: torch.device, amp_dtype: torch.dtype | None = None,
                   on_progress: OnProgress | Reporter | None = None) -> list[ImagePredictions]:
    """Detections of every image of `loader` (a DetectionDataset over `images`, no augmentation), decoded and
    after NMS (torchvision's), mapped back to each image's own pixels; `on_progress` hears a "running the detector"
    task, one step per image (edgekit.progress)."""
    model.eval()
    found: list[ImagePredictions | None] = [None] * len(images)
    with reporter(on_progress).task("running the detector", len(images)) as advance:
        for batch, _, indices in loader:
            _detect_batch(model, batch, indices, images, preprocessing, device, amp_dtype, found)
            advance(len(batch))
    return [f if f is not None else ImagePredictions(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64))
            for f in found]


def _detect_batch(model: nn.Module, batch, indices, images: list[DetectionImage], preprocessing: Preprocessing,
                  device: torch.device, amp_dtype: torch.dtype | None, found: list) -> None:
    batch = [image.to(device, non_blocking=True) for image in batch]
    with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext():
        outputs = model(batch)
    for output, index in zip(outputs, indices):
        image = images[index]
        width, height = image.width, image.height
        if not width or not height:
            width, height = load_rgb(image.path).size
        g = resize_geometry(width, height, preprocessing.img_size, preprocessing.resize)
        boxes = to_image_boxes(output["boxes"].float().cpu().numpy(), g)
        found[index] = ImagePredictions(boxes, output["scores"].float().cpu().numpy(),
                                        output["labels"].cpu().numpy() - 1)


class DetectorGraph(nn.Module):
    """The exported form of an SSD: backbone, heads and box decoding with the default boxes baked in as a constant
    (they depend on the input size only). forward(normalised N x 3 x S x S) -> N x A x (4 + K), the layout of
    edgekit.detection_post: torchvision's own decoding (`box_coder.decode_single`, clipped to the frame, as
    `SSD.postprocess_detections`) divided by S, then the softmax over background + K classes without the
    background's column. NMS is not in the graph."""

    def __init__(self, detector: nn.Module, img_size: int):
        super().__init__()
        from torchvision.models.detection.image_list import ImageList

        self.detector, self.img_size = detector.eval(), img_size
        with torch.no_grad():
            example = torch.zeros(1, 3, img_size, img_size)
            features = list(detector.backbone(example).values())
            anchors = detector.anchor_generator(ImageList(example, [(img_size, img_size)]), features)[0]
        self.register_buffer("anchors", anchors.detach().clone())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        regression, logits = self.detector.forward_network(images)
        # shapes taken from tensors (expand_as, reshape_as), never read into Python ints: a traced graph then has no
        # int casts of sizes, which coremltools' TorchScript frontend cannot convert
        anchors = self.anchors.unsqueeze(0).expand_as(regression).reshape(-1, 4)
        boxes = self.detector.box_coder.decode_single(regression.reshape(-1, 4), anchors).reshape_as(regression)
        boxes = boxes.clamp(0, self.img_size) / self.img_size
        probabilities = torch.softmax(logits, dim=-1)[..., 1:]
        return torch.cat([boxes, probabilities], dim=-1)


def postprocess_settings(detector: nn.Module):
    """The detector's own NMS settings (torchvision's SSD attributes) as edgekit.detection_post reads them."""
    from edgekit.detection_post import PostprocessSettings

    return PostprocessSettings(score_threshold=float(detector.score_thresh), iou_threshold=float(detector.nms_thresh),
                               max_detections=int(detector.detections_per_img),
                               candidates_per_class=int(detector.topk_candidates))

