"""Cross-layer equalization and bias correction before int8 (Nagel et al. 2019, "Data-Free Quantization Through
Weight Equalization and Bias Correction", the MobileNetV2 fix), on a copy of an eager model:

    model, facts = equalize_for_int8(model, calibration_images)

1. BatchNorm folded into the conv before it (as every int8 converter does; edgekit.quantize.sensitivity).
2. Cross-layer equalization: for each pair of conv/linear layers A -> B whose link is *exact under a positive
   per-channel scale* (nothing between them, or ReLU, or an eval-mode Dropout, and A's output read by B alone),
   A's output channel i is divided by s_i and B's input channel i multiplied by s_i, s_i = sqrt(r_A,i / r_B,i) from
   the two weight ranges, so both ranges meet (torch.ao.quantization._equalize.cross_layer_equalization; depthwise
   B reads channel i through its output axis). Repeated over all pairs until the scales settle. The float function
   is unchanged (up to float rounding): a channel blown up in one layer and shrunk in the next, which leaves every
   other channel of that activation a few int8 steps wide, is brought back. Pairs joined by ReLU6 or hardswish are
   left alone (scaling would move their clip points; the paper replaces ReLU6 by ReLU, which changes the trained
   function), and so are activations read by more than one layer (a residual sum).
3. Bias correction (the paper's empirical variant): each conv/linear's expected output error from rounding its
   weights to int8 (symmetric, per output channel, as the converters quantize them), measured on the calibration
   images' real inputs to that layer, is subtracted from its bias.

The model keeps its module names (keep_float and the layer ranking still name the same layers). Nothing is printed;
the caller re-verifies the artifact built from the result in its own runtime (edgekit.export.int8_plan).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from edgekit.quantize.sensitivity import fake_quantize_weight, fold_batchnorm

PASS_THROUGH = (nn.Identity, nn.ReLU, nn.Dropout)  # exact under a positive per-channel scale (eval mode)
PASS_THROUGH_FUNCTIONS = {torch.relu, nn.functional.relu}
MAX_ROUNDS = 20
SETTLED = 1e-4  # the largest relative change of any scale in a round, below which the rounds stop
BIAS_IMAGES = 64


def equalize_for_int8(model: nn.Module, calibration: np.ndarray, *, weight_levels: int = 127
                      ) -> tuple[nn.Module | None, dict]:
    """(the equalized, bias-corrected copy, what was done) or (None, {"reason": why not}) when the model has no
    layer to act on (a program's graph: no conv modules) or cannot be traced. `weight_levels`: the converter's
    weight range (127; 63 under ONNX Runtime's reduce_range)."""
    folded = fold_batchnorm(copy.deepcopy(model).eval())
    layers = {name: module for name, module in folded.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))}
    if not layers:
        return None, {"reason": "no conv or linear module to act on (a program's graph has none)"}
    try:
        pairs, skipped = exact_pairs(folded)
    except Exception as error:  # torch.fx cannot trace it (data-dependent control flow): no pairs, bias still
        pairs, skipped = [], {f"not traceable ({type(error).__name__})": 1}
    rounds = equalize_pairs(folded, pairs)
    images = torch.from_numpy(np.ascontiguousarray(calibration[:BIAS_IMAGES], dtype=np.float32))
    shifts = correct_bias(folded, layers, images, weight_levels)
    facts = {"pairs": [list(pair) for pair in pairs], "pairs_left_alone": skipped, "rounds": rounds,
             "bias_corrected": len(shifts), "largest_bias_shift": round(max(shifts.values(), default=0.0), 6),
             "bias_images": len(images)}
    return folded, facts


def exact_pairs(model: nn.Module) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(A, B) conv/linear module names whose link is exact under a positive per-channel scale, and how many
    candidate links were left alone, by why."""
    import torch.fx

    graph = torch.fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    weighted = lambda node: node.op == "call_module" and isinstance(modules[node.target], (nn.Conv2d, nn.Linear))  # noqa: E731
    pairs, skipped = [], {}
    for node in graph.nodes:
        if not weighted(node):
            continue
        current, why = node, None
        while True:
            users = list(current.users)
            if len(users) != 1:
                why = "read by more than one layer (a residual sum or a branch)" if users else None
                break
            user = users[0]
            if weighted(user):
                if _channels_match(modules[node.target], modules[user.target]):
                    pairs.append((node.target, user.target))
                else:
                    why = "a grouped conv between them"
                break
            if user.op == "call_module" and isinstance(modules[user.target], PASS_THROUGH):
                current = user
                continue
            if user.op == "call_function" and user.target in PASS_THROUGH_FUNCTIONS and len(user.args) == 1:
                current = user
                continue
            kind = type(modules[user.target]).__name__ if user.op == "call_module" else getattr(
                user.target, "__name__", str(user.target))
            if kind in ("ReLU6", "Hardswish", "hardtanh", "relu6", "hardswish"):
                why = f"joined by {kind} (scaling would move its clip point)"
            break
        if why:
            skipped[why] = skipped.get(why, 0) + 1
    return pairs, skipped


def _channels_match(first: nn.Module, second: nn.Module) -> bool:
    width = first.out_channels if isinstance(first, nn.Conv2d) else first.out_features
    if isinstance(second, nn.Linear):
        return isinstance(first, nn.Linear) and second.in_features == width
    if second.groups == 1:
        return second.in_channels == width
    return second.groups == second.in_channels == second.out_channels == width  # depthwise


def equalize_pairs(model: nn.Module, pairs: list[tuple[str, str]]) -> int:
    """Cross-layer equalization of each (A, B) pair in place, repeated until the scales settle; returns the rounds."""
    from torch.ao.quantization._equalize import cross_layer_equalization

    modules = dict(model.named_modules())
    for round_number in range(1, MAX_ROUNDS + 1):
        change = 0.0
        for first_name, second_name in pairs:
            first, second = modules[first_name], modules[second_name]
            before = first.weight.detach().clone()
            depthwise = isinstance(second, nn.Conv2d) and second.groups > 1
            with torch.no_grad():
                cross_layer_equalization(first, second, output_axis=0, input_axis=0 if depthwise else 1)
            ratio = (first.weight.detach().flatten(1).abs().amax(1) /
                     before.flatten(1).abs().amax(1).clamp_min(1e-12))
            change = max(change, float((ratio - 1).abs().max()))
        if not pairs or change < SETTLED:
            return round_number if pairs else 0
    return MAX_ROUNDS


def correct_bias(model: nn.Module, layers: dict[str, nn.Module], images: torch.Tensor,
                 weight_levels: int) -> dict[str, float]:
    """Subtract each layer's mean output error from int8 weights (measured on its real inputs) from its bias;
    returns the largest shift per layer (a layer without a bias gets one)."""
    errors: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def measure(name):
        def hook(module, inputs):
            delta = fake_quantize_weight(module.weight.detach(), weight_levels) - module.weight.detach()
            if isinstance(module, nn.Conv2d):
                out = nn.functional.conv2d(inputs[0], delta, None, module.stride, module.padding, module.dilation,
                                           module.groups)
                mean = out.mean(dim=(0, 2, 3))
            else:
                mean = nn.functional.linear(inputs[0], delta).reshape(-1, delta.shape[0]).mean(dim=0)
            errors[name] = errors.get(name, 0) + mean * len(inputs[0])
            counts[name] = counts.get(name, 0) + len(inputs[0])
        return hook

    handles = [module.register_forward_pre_hook(measure(name)) for name, module in layers.items()]
    try:
        with torch.no_grad():
            for start in range(0, len(images), 16):
                model(images[start:start + 16])
    finally:
        for handle in handles:
            handle.remove()
    shifts = {}
    with torch.no_grad():
        for name, module in layers.items():
            if name not in errors:
                continue  # not reached by the forward pass
            mean = errors[name] / counts[name]
            if module.bias is None:
                module.bias = nn.Parameter(torch.zeros_like(mean))
            module.bias -= mean
            shifts[name] = float(mean.abs().max())
    return shifts
