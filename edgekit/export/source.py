"""The model to export, its weights and the data that goes with them.

    checkpoint   the run's labels and preprocessing; calibration on a seeded sample of the run's own
                 training split (the shipped calibration/ set when the run's splits are gone)
    weights      a bare state dict; calibration on the shipped calibration/ set
    pretrained   (no checkpoint, no weights, 1000 classes) torchvision's ImageNet weights from the local
                 cache or a short download; ImageNet labels and preprocessing; calibration and labelled
                 parity on the shipped natural photographs (samples/imagenet-photos)
    random       nothing else found: random weights for latency work; fp16/int8 parity is not judged
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from edgekit.errors import EdgekitError
from edgekit.export.options import ExportOptions
from edgekit.fileio import sha256_file
from edgekit.preprocess import Preprocessing

DEFAULT_NUM_CLASSES = 1000  # the architecture "as configured" without a checkpoint: ImageNet's head
RANDOM_WEIGHTS_WARNING = ("no checkpoint and no ImageNet weights found: exporting RANDOM weights for latency work "
                          "(fp16/int8 parity not judged, the artifacts predict nothing useful). For a useful model: "
                          "edgekit train DATA --out RUN, then edgekit export MODEL --checkpoint RUN/best.pt")
PHOTOS_NOTE = ("int8 calibrated and checked on 20 shipped ImageNet photographs: weak evidence; "
               "pass --calib and --val with your own images for a trustworthy int8")


@dataclass
class Source:
    """The model to export and the facts that travel with it."""

    model: torch.nn.Module
    labels: list[str]
    preprocessing: Preprocessing
    weights: dict | str  # "random" or {"source": "checkpoint" | "weights file" | "pretrained", ...}
    checkpoint: Path | None
    kind: str = "random"  # "checkpoint" | "weights file" | "pretrained" | "random"
    why_random: str = ""  # why no ImageNet weights were used (random only)

    @property
    def random_weights(self) -> bool:
        return self.kind == "random"


def load_source(options: ExportOptions) -> Source:
    from edgekit.checkpoint import load_checkpoint, load_weights_file
    from edgekit.models import create_model, get_model_info

    info = get_model_info(options.model)
    checkpoint, weights = options.checkpoint, options.weights
    if checkpoint and weights:
        raise EdgekitError("give --checkpoint or --weights, not both")
    if checkpoint:
        loaded = load_checkpoint(checkpoint)
        if loaded.model_name != options.model:
            raise EdgekitError(f"{checkpoint} is a {loaded.model_name} checkpoint, not {options.model}; "
                               f"run `edgekit export {loaded.model_name} --checkpoint {checkpoint}`")
        if options.img_size is not None and options.img_size != loaded.preprocessing.img_size:
            raise EdgekitError(f"--img-size {options.img_size} disagrees with the checkpoint, trained at "
                               f"{loaded.preprocessing.img_size}; leave --img-size out (the checkpoint decides)")
        if options.num_classes is not None and options.num_classes != loaded.num_classes:
            raise EdgekitError(f"--num-classes {options.num_classes} disagrees with the checkpoint's "
                               f"{loaded.num_classes} classes")
        _check_min_size(info, loaded.preprocessing.img_size)
        return Source(model=loaded.build_model(), labels=list(loaded.labels), preprocessing=loaded.preprocessing,
                      weights={"source": "checkpoint", "path": str(Path(checkpoint).resolve()),
                               "sha256": sha256_file(Path(checkpoint)), "val_acc": loaded.meta.get("val_acc")},
                      checkpoint=Path(checkpoint), kind="checkpoint")
    size = options.img_size or info.default_img_size
    _check_min_size(info, size)
    classes = options.num_classes or DEFAULT_NUM_CLASSES
    model = create_model(options.model, num_classes=classes).eval()
    labels = [f"class_{i}" for i in range(classes)]
    preprocessing = Preprocessing(img_size=size)
    if weights:
        load_weights_file(model, weights)
        return Source(model=model, labels=labels, preprocessing=preprocessing,
                      weights={"source": "weights file", "path": str(Path(weights).resolve()),
                               "sha256": sha256_file(Path(weights))}, checkpoint=None, kind="weights file")
    why = "pretrained weights not asked for"
    if options.pretrained and classes == DEFAULT_NUM_CLASSES:
        from edgekit.models.pretrained import find_pretrained

        found, why = find_pretrained(options.model, download=options.download_weights)
        if found is not None:
            model.load_state_dict(found.state_dict)
            return Source(model=model.eval(), labels=found.categories, preprocessing=preprocessing,
                          weights={"source": "pretrained", "weights": found.weights_name, "path": str(found.path),
                                   "sha256": found.sha256}, checkpoint=None, kind="pretrained")
    elif options.pretrained:
        why = f"ImageNet weights have 1000 classes, not {classes}"
    return Source(model=model, labels=labels, preprocessing=preprocessing, weights="random", checkpoint=None,
                  why_random=why)


def imagenet_photo_samples(labels: list[str]):
    """The shipped photographs as (path, class index) with ImageNet's class names, for parity_images."""
    from edgekit.images import IMAGENET_PHOTOS_DIR, imagenet_photos

    return imagenet_photos(), labels, f"the shipped ImageNet photographs ({IMAGENET_PHOTOS_DIR.name})"


def _check_min_size(info, size: int) -> None:
    if size < info.min_img_size:
        raise EdgekitError(f"input size {size} is below {info.name}'s minimum of {info.min_img_size} px")
