"""Per-layer int8 sensitivity: quantize ONE conv/linear at a time (the rest stays float) and
measure how far the logits move from float32 on real images. The worst layers are the ones to
leave in float (`keep_float`) when the whole-model int8 loses accuracy.
"""
from __future__ import annotations

import copy
import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from edgekit import contracts
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write, atomic_write_text
from edgekit.progress import OnProgress, Reporter, reporter
from edgekit.quantize.pt2e import activation_observer, calibrate, only_quantize, padded_batches, xnnpack_quantizer

SENSITIVITY_BATCH = 32  # the exported graph has a static batch; inputs are padded up to it


@dataclass
class LayerSensitivity:
    name: str        # module name, as in model.named_modules() and keep_float
    op: str          # conv2d, depthwise conv2d, grouped conv2d, linear
    agreement: float  # fraction of images whose top-1 class is unchanged, 0..1
    cosine: float     # mean cosine similarity of int8-one-layer vs float logits, -1..1
    top1_drop: float | None  # float top-1 minus this model's top-1, in percentage points (labels given)


def weight_layers(model: nn.Module) -> list[tuple[str, str]]:
    """(name, op) of every conv and linear module, in model order."""
    layers = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            op = ("depthwise conv2d" if module.groups == module.in_channels == module.out_channels and module.groups > 1
                  else "grouped conv2d" if module.groups > 1 else "conv2d")
            layers.append((name, op))
        elif isinstance(module, nn.Linear):
            layers.append((name, "linear"))
    return layers


def run_padded(graph: Callable, batches: list[tuple[torch.Tensor, int]]) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([graph(batch)[:real].float().numpy() for batch, real in batches])


def cosine_rows(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean((a * b).sum(axis=1) / np.maximum(norms, 1e-12)))


def layer_sensitivity(model: nn.Module, calibration: np.ndarray, eval_images: np.ndarray,
                      eval_labels: np.ndarray | None = None, *, layers: Sequence[str] | None = None,
                      max_layers: int | None = None, method: str = "minmax",
                      on_progress: OnProgress | Reporter | None = None) -> list[LayerSensitivity]:
    """One row per conv/linear module, worst first: all of them, or those named in `layers`, then
    the first `max_layers` of those in model order if given. An unknown layer name is an EdgekitError.

    Each layer is quantized alone with PT2E (the XNNPACK quantizer with the `method` activation observer,
    calibrated on `calibration`), and its logits on `eval_images` (N, 3, H, W) are compared with the float
    model's. Sorted by agreement, then cosine, ascending: the first rows are the layers int8 hurts most.
    Progress: one step per layer through `on_progress` (edgekit.progress).
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    activation_observer(method)  # an unknown method fails before the slow part
    if max_layers is not None and max_layers < 1:
        raise EdgekitError(f"--max-layers must be at least 1, got {max_layers}")
    quantizer_factory = functools.partial(xnnpack_quantizer, method)
    model = model.eval()
    shape = (SENSITIVITY_BATCH, *np.shape(eval_images)[1:])
    exported = torch.export.export(model, (torch.zeros(shape),)).module()
    calib_batches = padded_batches(calibration, SENSITIVITY_BATCH)
    eval_batches = padded_batches(eval_images, SENSITIVITY_BATCH)
    reference = run_padded(exported, eval_batches)
    labels = None if eval_labels is None else np.asarray(eval_labels)
    float_top1 = None if labels is None else float((reference.argmax(1) == labels).mean())
    candidates = weight_layers(model)
    if layers is not None:
        unknown = sorted(set(layers) - {name for name, _ in candidates})
        if unknown:
            raise EdgekitError(f"not conv/linear modules of the model: {', '.join(unknown)}")
        candidates = [(name, op) for name, op in candidates if name in set(layers)]
    chosen = candidates[:max_layers] if max_layers else candidates
    rows = []
    with reporter(on_progress).task("int8 sensitivity, one layer at a time", len(chosen)) as advance:
        for name, op in chosen:
            prepared = prepare_pt2e(copy.deepcopy(exported), only_quantize(quantizer_factory(), name))
            calibrate(prepared, [batch for batch, _ in calib_batches])
            logits = run_padded(convert_pt2e(prepared), eval_batches)
            drop = None if labels is None else 100.0 * (float_top1 - float((logits.argmax(1) == labels).mean()))
            rows.append(LayerSensitivity(name, op, float((logits.argmax(1) == reference.argmax(1)).mean()),
                                         cosine_rows(logits, reference), drop))
            advance()
    return sorted(rows, key=lambda row: (row.agreement, row.cosine))


def save_sensitivity_json(rows: list[LayerSensitivity], path: Path | str, **facts) -> Path:
    return atomic_write_text(path, json.dumps({"schema": contracts.SENSITIVITY, **facts, "layers": [asdict(row) for row in rows]}, indent=2) + "\n")


def plot_sensitivity(rows: list[LayerSensitivity], path: Path | str, worst: int = 20) -> Path:
    """Horizontal bars of 1 - cosine for the `worst` layers (log scale: the spread spans decades)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = rows[:worst][::-1]  # worst at the top
    errors = [max(1.0 - row.cosine, 1e-9) for row in shown]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(shown) + 1.5))
    ax.barh([f"{row.name} ({row.op})" for row in shown], errors, color="tab:red")
    ax.set_xscale("log")
    ax.set_xlabel("1 - cosine(int8 one layer, float32) of the logits (lower is better)")
    ax.set_title(f"int8 sensitivity: the {len(shown)} worst layers")
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    finally:
        plt.close(fig)
