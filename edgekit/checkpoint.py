"""The checkpoint: the one file training writes and quantize/export/eval/predict read.

It is a plain dict of primitives and tensors, so it loads with `torch.load(weights_only=True)`:
    format          "edgekit-checkpoint/1"
    model           the architecture: a zoo name ("mobilenet_v2"), "torchvision:NAME" or "timm:NAME"
                    (edgekit.models.architecture.parse_architecture builds it)
    model_options   keyword options of the architecture's builder (width_mult, groups, ...)
    num_classes     int
    labels          class names, index order
    preprocessing   Preprocessing.to_dict(): img_size, mean, std, resize rule
    state_dict      the model's weights
    meta            free-form facts: epoch, val_acc, run config, edgekit version
    source          optional (brought architectures): where the architecture came from, as the manifest's
                    `source` records it (kind, name, builder, versions, the weights file training started from)
A checkpoint without `source` (every zoo checkpoint written before it existed) reads as before.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from edgekit import contracts
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write
from edgekit.preprocess import Preprocessing
from edgekit.weightfile import (load_state_dict_checked, load_weights_file, read_checkpoint_dict,  # noqa: F401
                                read_state_dict)

CHECKPOINT_FORMAT = contracts.CHECKPOINT


@dataclass
class Checkpoint:
    model_name: str
    num_classes: int
    labels: list[str]
    preprocessing: Preprocessing
    state_dict: dict[str, torch.Tensor]
    model_options: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    source: dict | None = None
    task: str = "classification"  # or "detection": num_classes/labels are the object classes (no background)

    def build_model(self) -> nn.Module:
        """The architecture (zoo, torchvision: or timm:) with these weights, in eval mode; a clear error if they
        do not fit."""
        if self.task == "detection":
            from edgekit.detector import build_detector_for

            model = build_detector_for(self.model_name, self.num_classes, self.preprocessing.img_size)
            load_state_dict_checked(model, self.state_dict, source=f"checkpoint for {self.model_name}")
            return model.eval()
        from edgekit.models.architecture import parse_architecture

        model = parse_architecture(self.model_name).build(self.num_classes, **self.model_options)
        load_state_dict_checked(model, self.state_dict, source=f"checkpoint for {self.model_name}")
        return model.eval()

    def to_dict(self) -> dict:
        data = {"format": CHECKPOINT_FORMAT, "model": self.model_name, "model_options": self.model_options,
                "num_classes": self.num_classes, "labels": list(self.labels),
                "preprocessing": self.preprocessing.to_dict(), "state_dict": self.state_dict, "meta": self.meta}
        if self.source is not None:
            data["source"] = self.source
        if self.task != "classification":  # a classifier's checkpoint is unchanged
            data["task"] = self.task
        return data


def save_checkpoint(checkpoint: Checkpoint, path: Path | str, **extra) -> None:
    """Write atomically: a crash mid-write never leaves a file that looks complete."""
    atomic_torch_save({**checkpoint.to_dict(), **extra}, Path(path))


def atomic_torch_save(obj, path: Path | str) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_checkpoint(path: Path | str, task: str | None = "classification") -> Checkpoint:
    """The checkpoint at `path`; one of another task (a detector's where a classifier's is read: quantize, bench,
    predict) is refused in one line. `edgekit eval` reads a detector's with task="detection", export any task
    (task=None)."""
    data = read_checkpoint_dict(path)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise EdgekitError(f"{path} is not an edgekit checkpoint (no '{CHECKPOINT_FORMAT}' marker); "
                           "for a bare state dict use --weights instead")
    found = str(data.get("task", "classification"))
    if task is not None and found != task:
        if found == "detection":
            raise EdgekitError(f"{path} is a detector's checkpoint ({data.get('model')}): `edgekit eval` and "
                               "`edgekit export` take it; quantize, bench and predict of a detector's checkpoint are "
                               "not there yet (docs/detection.md)")
        raise EdgekitError(f"{path} is a {found} checkpoint, not a {task} one")
    source = data.get("source")
    return Checkpoint(model_name=data["model"], num_classes=int(data["num_classes"]), labels=list(data["labels"]),
                      preprocessing=Preprocessing.from_dict(data["preprocessing"]), state_dict=data["state_dict"],
                      model_options=dict(data.get("model_options", {})), meta=dict(data.get("meta", {})),
                      source=dict(source) if isinstance(source, dict) else None,
                      task=str(data.get("task", "classification")))
