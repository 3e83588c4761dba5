"""Optimiser and learning-rate schedule: parameter groups (head faster, no decay on biases and norms),
AdamW or SGD, linear warm-up then cosine decay stepped per batch."""
from __future__ import annotations

import torch
from torch import nn

from edgekit.errors import EdgekitError

HEAD_LR_MULT = 10.0  # transfer learning: the new head learns 10x faster than the loaded backbone


def parameter_groups(model: nn.Module, head_names: set[str], lr: float, weight_decay: float,
                     head_lr_mult: float = HEAD_LR_MULT) -> list[dict]:
    """Backbone / head x decay / no decay (biases and norm weights take no weight decay)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        is_head = name in head_names
        no_decay = param.ndim <= 1
        groups.setdefault((is_head, no_decay), []).append(param)
    return [{"params": params, "lr": lr * (head_lr_mult if is_head else 1.0),
             "weight_decay": 0.0 if no_decay else weight_decay, "is_head": is_head}
            for (is_head, no_decay), params in sorted(groups.items())]


def make_optimizer(name: str, groups: list[dict], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise EdgekitError(f"unknown optimizer '{name}': use adamw or sgd")


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
    """Linear warm-up then cosine decay to zero, stepped once per batch."""
    cosine_steps = max(1, total_steps - warmup_steps)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cosine_steps)
    if warmup_steps <= 0:
        return cosine
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=warmup_steps)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])
