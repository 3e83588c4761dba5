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
from edgekit.stats import mean_cosine, top1_accuracy, top1_agreement

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
    float_top1 = None if labels is None else top1_accuracy(reference, labels)
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
            drop = None if labels is None else 100.0 * (float_top1 - top1_accuracy(logits, labels))
            rows.append(LayerSensitivity(name, op, top1_agreement(logits, reference), mean_cosine(logits, reference),
                                         drop))
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


def simulated_sensitivity(model: nn.Module, calibration: np.ndarray, eval_images: np.ndarray, *,
                          batch_size: int = SENSITIVITY_BATCH,
                          on_progress: OnProgress | Reporter | None = None) -> list[LayerSensitivity]:
    """One row per conv/linear module, worst first, like `layer_sensitivity` but in seconds: int8 simulated in
    eager PyTorch instead of a PT2E graph per layer (whose quantizer re-traces its patterns for every layer, ~20 s a
    layer). On a copy with each BatchNorm folded into the conv before it (as every int8 backend does), one layer at a
    time gets its input and output rounded to 8 bits per tensor over the ranges seen on `calibration` (asymmetric,
    min/max) and its weights to 8 bits per output channel (symmetric); its logits on `eval_images` are compared with
    float's. It ranks; it does not predict an artifact's accuracy (the runtimes' kernels differ)."""
    folded = fold_batchnorm(copy.deepcopy(model).eval())
    layers = [(name, op) for name, op in weight_layers(folded)]
    modules = dict(folded.named_modules())
    ranges: dict[str, list[float]] = {}

    def observe(name):
        def hook(module, inputs, output):
            for key, tensor in ((f"{name}:in", inputs[0]), (f"{name}:out", output)):
                low, high = float(tensor.min()), float(tensor.max())
                seen = ranges.setdefault(key, [low, high])
                seen[0], seen[1] = min(seen[0], low), max(seen[1], high)
        return hook

    handles = [modules[name].register_forward_hook(observe(name)) for name, _ in layers]
    calib_batches = padded_batches(calibration, batch_size)
    with torch.no_grad():
        for batch, _ in calib_batches:
            folded(batch)
    for handle in handles:
        handle.remove()
    eval_batches = padded_batches(eval_images, batch_size)
    reference = run_padded(folded, eval_batches)
    rows = []
    with reporter(on_progress).task("int8 sensitivity (simulated), one layer at a time", len(layers)) as advance:
        for name, op in layers:
            module = modules[name]
            original = module.weight.data.clone()
            module.weight.data = fake_quantize_weight(original)
            handles = [module.register_forward_pre_hook(
                           lambda m, inputs, key=f"{name}:in": (_fake_quantize(inputs[0], ranges[key]),)),
                       module.register_forward_hook(
                           lambda m, inputs, output, key=f"{name}:out": _fake_quantize(output, ranges[key]))]
            try:
                logits = run_padded(folded, eval_batches)
            finally:
                for handle in handles:
                    handle.remove()
                module.weight.data = original
            rows.append(LayerSensitivity(name, op, top1_agreement(logits, reference), mean_cosine(logits, reference),
                                         None))
            advance()
    return sorted(rows, key=lambda row: (row.agreement, row.cosine))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Each BatchNorm2d that directly follows a Conv2d in a Sequential folded into it (eval mode, in place)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for container in model.modules():
        if not isinstance(container, nn.Sequential):
            continue
        children = list(container._modules.items())
        for (conv_key, conv), (bn_key, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                container._modules[conv_key] = fuse_conv_bn_eval(conv, bn)
                container._modules[bn_key] = nn.Identity()
    return model


def _fake_quantize(tensor: torch.Tensor, seen: list[float]) -> torch.Tensor:
    low, high = min(seen[0], 0.0), max(seen[1], 0.0)
    scale = max((high - low) / 255.0, 1e-12)
    zero = round(-low / scale)
    return (torch.clamp(torch.round(tensor / scale) + zero, 0, 255) - zero) * scale


def fake_quantize_weight(weight: torch.Tensor, levels: int = 127) -> torch.Tensor:
    """`weight` rounded to int8 as the converters store it: symmetric, per output channel, [-levels, levels]."""
    scale = weight.abs().flatten(1).amax(1).clamp_min(1e-12) / float(levels)
    shape = (-1,) + (1,) * (weight.dim() - 1)
    return torch.clamp(torch.round(weight / scale.view(shape)), -levels, levels) * scale.view(shape)
