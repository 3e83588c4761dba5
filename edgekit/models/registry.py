"""A registry of architectures: one builder per name, with the facts that travel with it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., nn.Module]  # builder(num_classes=..., **options) -> nn.Module
    default_img_size: int  # the paper's headline input size
    min_img_size: int  # smallest input the architecture accepts
    options: tuple[str, ...]  # keyword options the builder takes (width_mult, groups, dropout)
    paper: str  # short citation
    published_top1: float | None  # ImageNet top-1 (%) in the paper's headline configuration
    paper_params_m: float | None  # millions of parameters in the paper's table, if given
    paper_macs_m: float | None  # millions of multiply-adds in the paper's table, if given
    task: str = "classification"  # one of TASKS: what the model's outputs mean
    paper_num_classes: int = 1000  # the class count of the paper's figures (detection: COCO's 90 + background)


TASKS = ("classification", "detection")


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, **facts) -> Callable:
    """Decorator: `@register_model("mobilenet_v2", default_img_size=224, ...)` on a builder."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        info = ModelInfo(name=name, builder=builder, **facts)
        if info.task not in TASKS:
            raise ValueError(f"{name}: task must be one of {', '.join(TASKS)}, got {info.task!r}")
        _REGISTRY[name] = info
        return builder

    return wrap


def list_models(task: str | None = None) -> list[str]:
    """Every registered name, sorted; `task` ("classification" or "detection") keeps that task's models only."""
    if task is not None and task not in TASKS:
        raise EdgekitError(f"unknown task '{task}'; tasks: {', '.join(TASKS)}")
    return sorted(name for name, info in _REGISTRY.items() if task is None or info.task == task)


def get_model_info(name: str) -> ModelInfo:
    if name not in _REGISTRY:
        raise EdgekitError(f"unknown model '{name}'. Known models: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(name: str, num_classes: int = 1000, **options) -> nn.Module:
    info = get_model_info(name)
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        raise EdgekitError(f"{name} takes no option {', '.join(unknown)}; its options: {', '.join(info.options) or 'none'}")
    if num_classes < 1:
        raise EdgekitError(f"num_classes must be at least 1, got {num_classes}")
    return info.builder(num_classes=num_classes, **options)
