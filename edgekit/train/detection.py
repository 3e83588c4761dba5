"""Detection's side of training: where it differs from classification (loop.py keeps everything else).

    data      a COCO or YOLO folder (edgekit.data.detection) or a prepared detection directory; its train/val
              splits, else a seeded split by image (stratified by each image's rarest class)
    dataset   images and boxes as tv_tensors; training: box-aware augmentation (torchvision.transforms.v2, as SSD:
              photometric distortion, zoom out, IoU crop, horizontal flip, sanitize), then the resize rule; validation:
              the resize rule only. The collate keeps lists (images of one size; a target dict per image)
    model     a zoo SSDLite (or torchvision:ssdlite320_mobilenet_v3_large) for K classes + background, its input
              transform set to img_size (edgekit.detector, shared with evaluation, as the dataset and the resize rule)
    step      torchvision's SSD in training mode with targets: the sum of its loss dict
    validate  COCO mAP (edgekit.detection_metrics, pycocotools) of the predictions mapped back to image pixels;
              "best" is the highest mAP@[.5:.95]
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from edgekit.data.detection import DetectionImage, DetectionSet, coco_json, read_detection, read_prepared_detection
from edgekit.data.detection_prepare import stratification_groups
from edgekit.detection_metrics import MapReport, coco_map
from edgekit.detector import MIN_BOX_SIDE, is_prepared_detection, predict_images
from edgekit.errors import EdgekitError
from edgekit.preprocess import Preprocessing
from edgekit.progress import Reporter

METRIC_COLUMNS = ("epoch", "train_loss", "val_map", "val_map50", "lr", "images_per_s", "seconds")


# ----------------------------------------------------------------------------- data

@dataclass
class DetectionSplits:
    root: Path
    classes: list[str]
    train: list[DetectionImage]
    val: list[DetectionImage]
    test: list[DetectionImage]


def load_detection_splits(data: str | Path, val_fraction: float, seed: int, model: str = "a detector") -> DetectionSplits:
    """The data's own train/val(/test) splits, or a seeded split by image of an unsplit folder."""
    from edgekit.data.detection import detection_layout

    path = Path(data)
    if path.is_dir() and not is_prepared_detection(path) and detection_layout(path) is None:
        raise EdgekitError(f"{model} is a detector: --data must be a COCO or YOLO folder or a prepared detection "
                           f"directory, and {path} is neither (samples/detection-fashion is one)")
    dataset: DetectionSet = read_prepared_detection(path) if is_prepared_detection(path) else read_detection(path)
    parts = {name: dataset.split(name) for name in ("train", "val", "test")}
    if not parts["train"] and not parts["val"]:
        from edgekit.data.folder import stratified_split

        images = sorted(dataset.images, key=lambda i: i.name)
        if len(images) < 2:
            raise EdgekitError(f"{path}: {len(images)} image(s); a split needs at least 2")
        groups = stratification_groups(images, len(dataset.classes))
        by_path = {image.path: image for image in images}
        split = stratified_split([(image.path, g) for image, g in zip(images, groups)],
                                 {"train": 1.0 - val_fraction, "val": val_fraction}, seed)
        parts = {name: sorted((by_path[p] for p, _ in split.get(name, [])), key=lambda i: i.name)
                 for name in ("train", "val")}
        parts["test"] = []
    splits = DetectionSplits(dataset.root, list(dataset.classes), parts["train"], parts["val"], parts.get("test", []))
    if not splits.classes:
        raise EdgekitError(f"{path} names no classes")
    if not splits.train:
        raise EdgekitError(f"the training split of {path} is empty")
    if not splits.val:
        raise EdgekitError(f"the validation split of {path} is empty")
    if not any(image.boxes for image in splits.train):
        raise EdgekitError(f"the training split of {path} has no boxes")
    return splits


def write_detection_splits(directory: Path, splits: DetectionSplits) -> Path:
    """The splits as a prepared detection directory (classes.txt, source.txt, train/val(/test).json; COCO files,
    file names relative to source.txt): `read_prepared_detection` reads it back on --resume and in eval."""
    from edgekit.fileio import atomic_write_json, atomic_write_text

    directory.mkdir(parents=True, exist_ok=True)
    root = Path(splits.root).resolve()
    atomic_write_text(directory / "classes.txt", "".join(c + "\n" for c in splits.classes))
    atomic_write_text(directory / "source.txt", f"{root}\n")
    for name in ("train", "val", "test"):
        images = getattr(splits, name)
        if images or name != "test":
            relative = [DetectionImage(i.path, Path(i.path).resolve().relative_to(root).as_posix(), name, i.width,
                                       i.height, i.boxes, i.source) for i in images]
            atomic_write_json(directory / f"{name}.json", coco_json(relative, splits.classes))
    return directory


def read_run_splits(directory: Path) -> DetectionSplits:
    dataset = read_prepared_detection(directory)
    return DetectionSplits(dataset.root, dataset.classes, dataset.split("train"), dataset.split("val"),
                           dataset.split("test"))


def train_augmentation(mean: tuple[float, float, float], hflip: bool):
    """SSD's box-aware augmentation (Liu et al. 2016, as torchvision's detection reference): photometric
    distortion, zoom out (canvas up to 4x, filled with the mean colour), IoU crop, horizontal flip; boxes that
    leave the picture or get thinner than MIN_BOX_SIDE are dropped with their labels."""
    from torchvision.transforms import v2

    fill = [int(round(255 * m)) for m in mean]
    steps = [v2.RandomPhotometricDistort(p=0.5), v2.RandomZoomOut(fill=fill, side_range=(1.0, 4.0), p=0.5),
             v2.RandomIoUCrop()]
    if hflip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    steps += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=MIN_BOX_SIDE)]
    return v2.Compose(steps)


AUGMENTATION_RECORD = ["RandomPhotometricDistort(p=0.5)", "RandomZoomOut(side_range=(1, 4), fill=mean, p=0.5)",
                       "RandomIoUCrop()", "RandomHorizontalFlip(p=0.5)", "ClampBoundingBoxes",
                       f"SanitizeBoundingBoxes(min_size={MIN_BOX_SIDE})"]


# ----------------------------------------------------------------------------- model

def backbone_head_names(model: nn.Module, weights: str | Path) -> set[str]:
    """--weights for a detector: the backbone's classification weights (edgekit.models.ssdlite.init_backbone);
    every parameter outside the copied trunk (extra layers, heads) counts as new (the head)."""
    from edgekit.models.ssdlite import init_backbone_from_file

    if not hasattr(model, "backbone_name"):
        raise EdgekitError("--weights for torchvision's detector is not supported in training")
    init_backbone_from_file(model, weights)
    return {name for name, _ in model.named_parameters()
            if not name.startswith("backbone.") or name.startswith("backbone.extra.")}


# ----------------------------------------------------------------------------- steps

def train_epoch(model, loader, optimizer, scheduler, scaler, ctx, reporter: Reporter, description: str) -> dict:
    """One pass: torchvision's SSD losses (box regression + classification) summed, one step per batch."""
    model.train()
    total_loss, count = 0.0, 0
    reporter.start(description, len(loader))
    start = time.perf_counter()
    for images, targets, _ in loader:
        images = [image.to(ctx.device, non_blocking=True) for image in images]
        targets = [{k: v.to(ctx.device, non_blocking=True) for k, v in t.items()} for t in targets]
        with ctx.autocast():
            losses = model(images, targets)
            loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        total_loss += loss.detach().float().item() * len(images)
        count += len(images)
        elapsed = time.perf_counter() - start
        reporter.advance(description, f"loss {total_loss / count:.3f}  {count / max(elapsed, 1e-9):.0f} img/s")
    seconds = time.perf_counter() - start
    reporter.finish(description)
    if not math.isfinite(total_loss):
        raise EdgekitError("the training loss became NaN/inf: lower --lr (or disable --amp)")
    return {"train_loss": total_loss / max(count, 1), "lr": optimizer.param_groups[0]["lr"],
            "images_per_s": count / max(seconds, 1e-9), "seconds": seconds}


def validate(model: nn.Module, loader, images: list[DetectionImage], classes: list[str],
             preprocessing: Preprocessing, ctx) -> MapReport:
    return coco_map(images, classes, predict_images(model, loader, images, preprocessing, ctx.device, ctx.amp_dtype))
