"""The one weight initialisation of the architectures written here (MobileNet V1, ShuffleNet V1, Xception):
He-normal convolutions (fan-out, the ReLU gain), unit/zero batch norms, a small normal classifier."""
from __future__ import annotations

from torch import nn


def init_weights(model: nn.Module) -> nn.Module:
    """Initialise every Conv2d, BatchNorm2d and Linear of `model` in place (module order, so a seed gives the same
    weights as before this helper existed) and return it."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)
    return model
