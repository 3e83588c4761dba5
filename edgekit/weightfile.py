"""Reading weights from a file (torch imported; every load through edgekit.safeload, weights-only):

    read_checkpoint_dict(path)          a checkpoint file's dict, every failure one clear message
    read_state_dict(path)               the weights in a file: a bare state dict, {"state_dict": ...}, an edgekit
                                        checkpoint or a .safetensors file, DataParallel/compile prefixes removed
    load_state_dict_checked(model, sd)  strict loading with a message naming what does not fit
    load_weights_file(model, path)      --weights PATH

Below edgekit.models (a zoo detector's backbone reads its weights here) and edgekit.checkpoint (the checkpoint
contract, which builds models); edgekit.checkpoint re-exports these names.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgekit import contracts
from edgekit.errors import EdgekitError

CHECKPOINT_FORMAT = contracts.CHECKPOINT


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
