"""The checkpoint: the one file training writes and quantize/export/eval/predict read.

It is a plain dict of primitives and tensors, so it loads with `torch.load(weights_only=True)`:
    format          "edgekit-checkpoint/1"
    model           registry name, e.g. "mobilenet_v2"
    model_options   keyword options of create_model (width_mult, groups, ...)
    num_classes     int
    labels          class names, index order
    preprocessing   Preprocessing.to_dict(): img_size, mean, std, resize rule
    state_dict      the model's weights
    meta            free-form facts: epoch, val_acc, run config, edgekit version
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

    def build_model(self) -> nn.Module:
        """The architecture with these weights, in eval mode; a clear error if they do not fit."""
        from edgekit.models import create_model

        model = create_model(self.model_name, num_classes=self.num_classes, **self.model_options)
        load_state_dict_checked(model, self.state_dict, source=f"checkpoint for {self.model_name}")
        return model.eval()

    def to_dict(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "model": self.model_name, "model_options": self.model_options,
                "num_classes": self.num_classes, "labels": list(self.labels),
                "preprocessing": self.preprocessing.to_dict(), "state_dict": self.state_dict, "meta": self.meta}


def save_checkpoint(checkpoint: Checkpoint, path: Path | str, **extra) -> None:
    """Write atomically: a crash mid-write never leaves a file that looks complete."""
    atomic_torch_save({**checkpoint.to_dict(), **extra}, Path(path))


def atomic_torch_save(obj, path: Path | str) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def read_checkpoint_dict(path: Path | str) -> dict:
    """torch.load with weights_only=True, every failure turned into one clear message."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, pickle of foreign objects, not a torch file at all
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EdgekitError(f"{path} is not a readable checkpoint (truncated or not a torch file): {first_line[:200]}") from None
    return data


def load_checkpoint(path: Path | str) -> Checkpoint:
    data = read_checkpoint_dict(path)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise EdgekitError(f"{path} is not an edgekit checkpoint (no '{CHECKPOINT_FORMAT}' marker); "
                           "for a bare state dict use --weights instead")
    return Checkpoint(model_name=data["model"], num_classes=int(data["num_classes"]), labels=list(data["labels"]),
                      preprocessing=Preprocessing.from_dict(data["preprocessing"]), state_dict=data["state_dict"],
                      model_options=dict(data.get("model_options", {})), meta=dict(data.get("meta", {})))


def load_state_dict_checked(model: nn.Module, state_dict: dict, source: str) -> None:
    """load_state_dict(strict) with a message that names what does not fit, not a wall of keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong_shape = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}"
                   for k in own if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong_shape:
        details = []
        if wrong_shape:
            details.append(f"{len(wrong_shape)} tensors of another shape (e.g. {wrong_shape[0]})")
        if missing:
            details.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise EdgekitError(f"the weights in {source} do not match the architecture: " + "; ".join(details)
                           + " — another model, width or class count?")
    model.load_state_dict(state_dict)


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """The weights in a file: a bare state dict, {"state_dict": ...} or an edgekit checkpoint."""
    data = read_checkpoint_dict(path)
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        data = data["state_dict"]
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise EdgekitError(f"{path} holds no state dict of tensors")
    return data


def load_weights_file(model: nn.Module, path: Path | str) -> nn.Module:
    """--weights PATH: a bare state dict (or an edgekit checkpoint's state_dict) loaded strictly."""
    load_state_dict_checked(model, read_state_dict(path), source=str(path))
    return model
