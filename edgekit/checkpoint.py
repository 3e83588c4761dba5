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


def read_checkpoint_dict(path: Path | str) -> dict:
    """torch.load with weights_only=True (edgekit.safeload.load_tensors), every failure turned into one clear
    message."""
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"checkpoint not found: {path}")
    from edgekit.safeload import UnsafePickle, load_tensors

    try:
        data = load_tensors(path)
    except UnsafePickle as refusal:
        raise EdgekitError(f"{refusal}: save the weights alone with torch.save(model.state_dict(), PATH) (or the "
                           "model with torch.export.save)") from None
    except Exception as error:  # truncated zip, not a torch file at all
        text = str(error)
        first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        raise EdgekitError(f"{path} is not a readable checkpoint (truncated or not a torch file): {first_line[:200]}") from None
    return data


def load_checkpoint(path: Path | str, task: str = "classification") -> Checkpoint:
    """The checkpoint at `path`; one of another task (a detector's where a classifier's is read: export, quantize,
    bench, predict) is refused in one line. `edgekit eval` reads a detector's with task="detection"."""
    data = read_checkpoint_dict(path)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise EdgekitError(f"{path} is not an edgekit checkpoint (no '{CHECKPOINT_FORMAT}' marker); "
                           "for a bare state dict use --weights instead")
    found = str(data.get("task", "classification"))
    if found != task:
        if found == "detection":
            raise EdgekitError(f"{path} is a detector's checkpoint ({data.get('model')}): `edgekit eval` takes it; "
                               "export, quantize, bench and predict of detectors are not there yet (docs/detection.md)")
        raise EdgekitError(f"{path} is a {found} checkpoint, not a {task} one")
    source = data.get("source")
    return Checkpoint(model_name=data["model"], num_classes=int(data["num_classes"]), labels=list(data["labels"]),
                      preprocessing=Preprocessing.from_dict(data["preprocessing"]), state_dict=data["state_dict"],
                      model_options=dict(data.get("model_options", {})), meta=dict(data.get("meta", {})),
                      source=dict(source) if isinstance(source, dict) else None,
                      task=str(data.get("task", "classification")))


def load_state_dict_checked(model: nn.Module, state_dict: dict, source: str) -> None:
    """load_state_dict(strict) with a message that names what does not fit, not a wall of keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong_shape = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}"
                   for k in own if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong_shape:
        details = []
        first = lambda keys: ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
        if wrong_shape:
            details.append(f"{len(wrong_shape)} tensors of another shape ({first(wrong_shape)})")
        if missing:
            details.append(f"{len(missing)} missing ({first(missing)})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected ({first(unexpected)})")
        raise EdgekitError(f"the weights in {source} do not match the architecture: " + "; ".join(details)
                           + " — another model, width or class count?")
    model.load_state_dict(state_dict)


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """The weights in a file: a bare state dict, {"state_dict": ...} / {"model": ...}, an edgekit checkpoint, or a
    .safetensors file; the "module." (DataParallel) and "_orig_mod." (torch.compile) prefixes are removed."""
    path = Path(path)
    if path.suffix == ".safetensors":
        data = _read_safetensors(path)
    else:
        data = read_checkpoint_dict(path)
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        data = data["state_dict"]
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict) and data[key]:
            data = data[key]
            break
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise EdgekitError(f"{path} holds no state dict of tensors")
    for prefix in ("module.", "_orig_mod."):
        if all(isinstance(k, str) and k.startswith(prefix) for k in data):
            data = {k[len(prefix):]: v for k, v in data.items()}
    return data


def _read_safetensors(path: Path) -> dict:
    if not path.is_file():
        raise EdgekitError(f"weights file not found: {path}")
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise EdgekitError(f"reading {path.name} needs the safetensors package (installed with timm: "
                           "pip install 'edgekit[timm]')") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:
        raise EdgekitError(f"{path} is not a readable .safetensors file: {str(error).splitlines()[0][:200]}") from None


def load_weights_file(model: nn.Module, path: Path | str) -> nn.Module:
    """--weights PATH: a bare state dict (or an edgekit checkpoint's state_dict) loaded strictly."""
    load_state_dict_checked(model, read_state_dict(path), source=str(path))
    return model
