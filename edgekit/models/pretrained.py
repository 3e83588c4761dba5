"""ImageNet weights from torchvision's weight enums, for the models and widths torchvision publishes.

`pretrained_state_dict` has no silent fallback: weights that cannot be fetched (no network, a
broken download) or a model without published weights is one EdgekitError that points to
`--weights PATH` (loaded by `edgekit.weightfile.load_weights_file`).

`find_pretrained` is the lenient form export uses without a checkpoint: the file from torchvision's
cache (TORCH_HOME/hub/checkpoints/<torchvision's file name>), else a download with a short timeout
(only when asked, never when EDGEKIT_OFFLINE=1), else None and the reason, so the caller can fall back to random weights.
"""
from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from torchvision.models import (MobileNet_V2_Weights, ResNet18_Weights, ShuffleNet_V2_X0_5_Weights,
                                ShuffleNet_V2_X1_0_Weights, ShuffleNet_V2_X1_5_Weights, ShuffleNet_V2_X2_0_Weights,
                                SqueezeNet1_0_Weights, SqueezeNet1_1_Weights)
from torchvision.models._api import WeightsEnum

from edgekit.errors import EdgekitError
from edgekit.fileio import sha256_file
from edgekit.models.registry import get_model_info

QUICK_DOWNLOAD_TIMEOUT_S = 5  # export without a checkpoint tries a download briefly, then uses random weights
OFFLINE_ENV = "EDGEKIT_OFFLINE"  # "1": never try a download (tests, air-gapped machines)

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


@dataclass
class FoundWeights:
    state_dict: dict
    path: Path  # the file in torchvision's cache
    sha256: str
    weights_name: str  # e.g. "MobileNet_V2_Weights.IMAGENET1K_V1"
    categories: list[str]  # ImageNet class names, index order


def cache_file(name: str, width_mult: float = 1.0) -> Path | None:
    """Where torchvision keeps (or would keep) `name`'s ImageNet weights; None where none are published."""
    weights = pretrained_weights(name, width_mult)
    return None if weights is None else Path(_cache_dir()) / Path(weights.url).name


def find_pretrained(name: str, width_mult: float = 1.0, download: bool = False) -> tuple[FoundWeights | None, str]:
    """(weights, "") from the local cache, or (download=True) a short download; (None, why not) otherwise.
    Never raises for a missing network: the caller decides what random weights mean."""
    weights = pretrained_weights(name, width_mult)
    if weights is None:
        return None, f"torchvision publishes no ImageNet weights for {name}"
    return find_cached(weights, download)


def find_cached(weights: WeightsEnum, download: bool = False) -> tuple[FoundWeights | None, str]:
    """One torchvision weights entry (any architecture, e.g. `MobileNet_V3_Small_Weights.IMAGENET1K_V1`) from
    torchvision's cache, or (download=True, not EDGEKIT_OFFLINE) a short download; (None, why not) otherwise."""
    import torch

    path = Path(_cache_dir()) / Path(weights.url).name
    if not path.is_file():
        if not download or os.environ.get(OFFLINE_ENV) == "1":
            return None, (f"torchvision's ImageNet weights are not in {path.parent} (no download asked; "
                          f"--download-weights fetches them, or copy {path.name} there)")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with _socket_timeout(QUICK_DOWNLOAD_TIMEOUT_S):
                torch.hub.download_url_to_file(weights.url, str(path), hash_prefix=None, progress=False)
        except Exception as error:
            Path(str(path) + ".partial").unlink(missing_ok=True)
            reason = str(getattr(error, "reason", None) or error).splitlines()[0][:160]
            return None, f"{path} not found and the download failed ({reason})"
    try:
        from edgekit.safeload import load_tensors

        state = load_tensors(path)  # weights_only: tensors and plain containers
    except Exception as error:
        return None, f"{path} is not a readable state dict ({type(error).__name__})"
    digest = sha256_file(path)
    return FoundWeights(state, path, digest, f"{type(weights).__name__}.{weights.name}",
                        list(weights.meta["categories"])), ""
