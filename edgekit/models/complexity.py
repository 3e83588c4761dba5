"""How big and how costly a model is: parameters, multiply-accumulates, and the paper's budget.

MACs are counted by torch's own FlopCounterMode (FLOPs / 2) on the meta device, so no real
arithmetic runs and all models are counted in well under a second each.
"""
from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from edgekit.errors import EdgekitError
from edgekit.models.registry import create_model, get_model_info

BUDGET_TOLERANCE = 0.05  # a paper's figure counts as met within 5 %


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _as_hw(img_size: int | tuple[int, int]) -> tuple[int, int]:
    return (img_size, img_size) if isinstance(img_size, int) else (int(img_size[0]), int(img_size[1]))


def count_macs(model: nn.Module, img_size: int | tuple[int, int]) -> int:
    """Multiply-accumulates of one forward pass on a 1x3xHxW input (convolutions and linear layers).

    A detector is counted through its `forward_network` (backbone, extra layers and heads on a normalised
    batch), as the papers count it: box decoding and non-maximum suppression are not multiply-adds of the network.
    """
    height, width = _as_hw(img_size)
    device = next(model.parameters()).device
    image = torch.zeros(1, 3, height, width, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            getattr(model, "forward_network", model)(image)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def check_input_size(name: str, img_size: int | tuple[int, int]) -> None:
    """EdgekitError if an input side is below the model's min_img_size.

    Every model here downsamples by 32 before global pooling, so min_img_size is 32 for all: below
    it the last feature map is mostly padding (SqueezeNet 1.0 and 1.1 fail outright below 21 and 17 px).
    """
    info = get_model_info(name)
    height, width = _as_hw(img_size)
    if min(height, width) < info.min_img_size:
        raise EdgekitError(f"{name} needs inputs of at least {info.min_img_size} px per side, got {height}x{width}")


@dataclass(frozen=True)
class Complexity:
    name: str
    num_classes: int
    img_size: int
    params: int
    macs: int


def measure(name: str, num_classes: int | None = None, img_size: int | None = None, **options) -> Complexity:
    """Parameters and MACs of `name` at `img_size` (default: the paper's) for `num_classes` (default: the paper's,
    1000 for a classifier, 91 for a COCO detector), built on the meta device."""
    info = get_model_info(name)
    num_classes = info.paper_num_classes if num_classes is None else num_classes
    size = img_size or info.default_img_size
    check_input_size(name, size)
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, **options)
        macs = count_macs(model, size)
    return Complexity(name=name, num_classes=num_classes, img_size=size, params=count_params(model), macs=macs)


@dataclass(frozen=True)
class BudgetCheck:
    """The paper's headline figures against ours, at the paper's class count and input size."""

    name: str
    params: int
    macs: int
    paper_params_m: float | None
    paper_macs_m: float | None
    params_within: bool | None  # None: the paper gives no figure
    macs_within: bool | None

    @property
    def met(self) -> bool | None:
        checks = [c for c in (self.params_within, self.macs_within) if c is not None]
        return all(checks) if checks else None

    def to_dict(self) -> dict:
        return {**asdict(self), "met": self.met}


def _within(ours: int, paper_millions: float | None) -> bool | None:
    if paper_millions is None:
        return None
    return abs(ours / 1e6 - paper_millions) <= BUDGET_TOLERANCE * paper_millions


def check_paper_budget(name: str, measured: Complexity | None = None) -> BudgetCheck:
    """Compare the default configuration at the paper's class count (1000; 91 for COCO detectors) and size with the
    paper's table."""
    info = get_model_info(name)
    if measured is None or (measured.num_classes, measured.img_size) != (info.paper_num_classes, info.default_img_size):
        measured = measure(name)
    return BudgetCheck(name=name, params=measured.params, macs=measured.macs,
                       paper_params_m=info.paper_params_m, paper_macs_m=info.paper_macs_m,
                       params_within=_within(measured.params, info.paper_params_m),
                       macs_within=_within(measured.macs, info.paper_macs_m))


def default_options(name: str) -> dict:
    """The builder's options with their defaults (the paper's headline configuration)."""
    info = get_model_info(name)
    parameters = inspect.signature(info.builder).parameters
    return {option: parameters[option].default for option in info.options}


def describe_model(name: str, num_classes: int | None = None, img_size: int | None = None) -> dict:
    """One row of the zoo: size and cost at (num_classes, img_size) (default: the paper's), the paper's facts and
    budget check."""
    from edgekit.models.pretrained import pretrained_weights

    info = get_model_info(name)
    measured = measure(name, num_classes=num_classes, img_size=img_size)
    budget = check_paper_budget(name, measured)
    weights = pretrained_weights(name)
    return {
        "name": name,
        "task": info.task,
        "num_classes": measured.num_classes,
        "img_size": measured.img_size,
        "params": measured.params,
        "macs": measured.macs,
        "default_img_size": info.default_img_size,
        "min_img_size": info.min_img_size,
        "options": default_options(name),
        "paper": info.paper,
        "published_top1": info.published_top1,
        "budget": budget.to_dict(),
        "torchvision_weights": f"{type(weights).__name__}.{weights.name}" if weights else None,
    }
