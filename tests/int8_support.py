"""A model built to break int8, for the int8 plan's tests (tests/test_int8_plan.py).

`break_int8(run, out, factor)`: the fixed mobilenet_v2 run with one activation channel scaled up by `factor` and the
next layer's input scaled down by the same factor, so the float function is unchanged (up to float rounding) while a
per-tensor int8 range of that activation is `factor` times too wide for every other channel. The pair is
features.1's projection (its BatchNorm's weight and bias, channel BROKEN_CHANNEL) and features.2's expansion conv
(input channel BROKEN_CHANNEL): neither block has a residual connection, so nothing else reads the scaled channel.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

BROKEN_CHANNEL = 3
SCALED_BN = "features.1.conv.2"  # BatchNorm after features.1's 1x1 projection (16 channels, no residual)
NEXT_CONV = "features.2.conv.0.0"  # features.2's 1x1 expansion conv reads those 16 channels (no residual)
BROKEN_LAYERS = ("features.1.conv.1", NEXT_CONV)  # the conv whose output is scaled, and its reader


def break_int8(run: Path, out: Path, factor: float = 300.0) -> Path:
    """A copy of run directory `run` at `out` whose best.pt is the broken model; returns out/best.pt."""
    from edgekit.checkpoint import load_checkpoint, save_checkpoint

    shutil.copytree(run, out)
    checkpoint = load_checkpoint(run / "best.pt")
    state = {key: value.clone() for key, value in checkpoint.state_dict.items()}
    state[f"{SCALED_BN}.weight"][BROKEN_CHANNEL] *= factor
    state[f"{SCALED_BN}.bias"][BROKEN_CHANNEL] *= factor
    state[f"{NEXT_CONV}.weight"][:, BROKEN_CHANNEL] /= factor
    checkpoint.state_dict = state
    (out / "best.pt").unlink()
    save_checkpoint(checkpoint, out / "best.pt")
    return out / "best.pt"


def same_function(first: Path, second: Path, images: torch.Tensor) -> float:
    """The largest logit difference between two checkpoints of one architecture on `images`, relative to the largest
    logit (float rounding of the x300 channel and its /300 reader differs with the thread count)."""
    import edgekit
    from edgekit.checkpoint import load_checkpoint

    logits = []
    for path in (first, second):
        checkpoint = load_checkpoint(path)
        model = edgekit.create_model(checkpoint.model_name, num_classes=checkpoint.num_classes,
                                     **checkpoint.model_options)
        model.load_state_dict(checkpoint.state_dict)
        with torch.no_grad():
            logits.append(model.eval()(images))
    return float((logits[0] - logits[1]).abs().max() / logits[0].abs().max())
