"""Transfer learning: load the tensors of another model's weights that fit, freeze or free the backbone."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from edgekit.checkpoint import read_state_dict
from edgekit.errors import EdgekitError


def load_matching_weights(model: nn.Module, path: Path | str) -> tuple[list[str], list[str]]:
    """Load every tensor whose name and shape match; return (loaded names, names left new).

    The ones left new are typically the classifier head for another class count.
    """
    data = read_state_dict(path)
    own = model.state_dict()
    matching = {k: v for k, v in data.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matching:
        raise EdgekitError(f"no tensor in {path} matches the architecture by name and shape: weights of another model?")
    model.load_state_dict(matching, strict=False)
    return sorted(matching), sorted(k for k in own if k not in matching)


def new_parameter_names(model: nn.Module, weights: Path | str) -> set[str]:
    """Load `weights` into `model`; the names of the parameters left new (the head)."""
    _, new_names = load_matching_weights(model, weights)
    return {name for name, _ in model.named_parameters() if name in set(new_names)}


def set_backbone_frozen(model: nn.Module, head_names: set[str], frozen: bool) -> None:
    for name, param in model.named_parameters():
        if name not in head_names:
            param.requires_grad_(not frozen)
