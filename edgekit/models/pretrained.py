"""ImageNet weights from torchvision's weight enums, for the models and widths torchvision publishes.

There is no silent fallback: weights that cannot be fetched (no network, a broken download) or a
model without published weights is one EdgekitError that points to `--weights PATH`
(loaded by `edgekit.checkpoint.load_weights_file`).
"""
from __future__ import annotations

import socket
from contextlib import contextmanager

from torchvision.models import (MobileNet_V2_Weights, ResNet18_Weights, ShuffleNet_V2_X0_5_Weights,
                                ShuffleNet_V2_X1_0_Weights, ShuffleNet_V2_X1_5_Weights, ShuffleNet_V2_X2_0_Weights,
                                SqueezeNet1_0_Weights, SqueezeNet1_1_Weights)
from torchvision.models._api import WeightsEnum

from edgekit.errors import EdgekitError
from edgekit.models.registry import get_model_info

DOWNLOAD_TIMEOUT_S = 30  # a network that swallows packets fails in this long instead of hanging

# model name -> width_mult -> torchvision weights (the original recipes, IMAGENET1K_V1)
TORCHVISION_WEIGHTS: dict[str, dict[float, WeightsEnum]] = {
    "mobilenet_v2": {1.0: MobileNet_V2_Weights.IMAGENET1K_V1},
    "shufflenet_v2": {0.5: ShuffleNet_V2_X0_5_Weights.IMAGENET1K_V1, 1.0: ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1,
                      1.5: ShuffleNet_V2_X1_5_Weights.IMAGENET1K_V1, 2.0: ShuffleNet_V2_X2_0_Weights.IMAGENET1K_V1},
    "squeezenet1_0": {1.0: SqueezeNet1_0_Weights.IMAGENET1K_V1},
    "squeezenet1_1": {1.0: SqueezeNet1_1_Weights.IMAGENET1K_V1},
    "resnet18": {1.0: ResNet18_Weights.IMAGENET1K_V1},
}


def pretrained_weights(name: str, width_mult: float = 1.0) -> WeightsEnum | None:
    """torchvision's ImageNet weights for `name` at `width_mult`, or None where none are published."""
    get_model_info(name)  # unknown name: the error that lists the known ones
    return TORCHVISION_WEIGHTS.get(name, {}).get(float(width_mult))


@contextmanager
def _socket_timeout(seconds: float):
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)


def pretrained_state_dict(name: str, width_mult: float = 1.0) -> dict:
    """The ImageNet state dict (1000 classes) of `name`, fetched by torchvision (or read from its cache).

    Fits `create_model(name, num_classes=1000, width_mult=width_mult)` strictly; for another class
    count, load the matching tensors and train the new head.
    """
    weights = pretrained_weights(name, width_mult)
    if weights is None:
        published = sorted(TORCHVISION_WEIGHTS.get(name, {}))
        which = f" at width_mult {width_mult} (only at {', '.join(map(str, published))})" if published else ""
        raise EdgekitError(f"torchvision publishes no ImageNet weights for {name}{which}; "
                           f"pass a weights file you have with --weights PATH, or train from scratch")
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as error:  # URLError, timeouts, hash mismatch, a truncated cache file: all one message
        reason = str(getattr(error, "reason", None) or error).splitlines()[0][:200]
        raise EdgekitError(f"could not fetch {name}'s ImageNet weights ({type(weights).__name__}.{weights.name}) "
                           f"from {weights.url}: {reason}. Download that file on a machine with internet and "
                           f"pass it with --weights PATH (or put it in {_cache_dir()}, where torchvision looks first)") from None


def _cache_dir() -> str:
    import torch.hub

    return f"{torch.hub.get_dir()}/checkpoints"
