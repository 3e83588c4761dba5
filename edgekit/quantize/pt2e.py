"""Static int8 through PyTorch 2 Export (PT2E): torchao's prepare/convert with a backend's quantizer.

    export -> prepare_pt2e (observers where the backend's quantizer annotates) -> calibration
    -> convert_pt2e (quantize/dequantize pairs the backend lowers to integer kernels)

Two quantizers, one per runtime: ExecuTorch's XNNPACKQuantizer and litert-torch's PT2EQuantizer.
Both quantize weights symmetric int8 per output channel and activations int8 per tensor; the
`method` picks the activation observer that turns calibration images into ranges:

    minmax          MinMaxObserver: the exact range seen (sensitive to outliers, needs few images)
    moving_average  MovingAverageMinMaxObserver: ranges averaged over calibration batches
    histogram       HistogramObserver: a range minimising quantization error over a histogram
                    (the quantizers' own default; slower to calibrate, clips rare outliers)
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.formats import PT2E_METHODS  # noqa: F401  (the names, torch-free, live in the format table)
from edgekit.progress import OnProgress, Reporter, reporter
OBSERVER_EPS = 2 ** -12  # the quantizers' own floor on a scale


def activation_observer(method: str):
    """The torchao observer class behind a calibration method name."""
    from torchao.quantization.pt2e import HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver

    observers = {"minmax": MinMaxObserver, "moving_average": MovingAverageMinMaxObserver, "histogram": HistogramObserver}
    if method not in observers:
        raise EdgekitError(f"calibration method {method!r} is not available for PT2E (ExecuTorch, TFLite); "
                           f"choose one of: {', '.join(PT2E_METHODS)}")
    return observers[method].with_args(eps=OBSERVER_EPS)


def with_activation_method(config, method: str):
    """A quantization config whose activation observers follow `method` (weights untouched)."""
    observer = activation_observer(method)
    activation = dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=observer)
    return dataclasses.replace(config, input_activation=activation, output_activation=activation)


def xnnpack_quantizer(method: str = "minmax", per_channel: bool = True):
    """ExecuTorch's XNNPACKQuantizer: symmetric int8 weights (per channel), int8 activations."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)

    from edgekit.quantize.pt2e_patterns import XNNPACK_DECOMPOSED, with_integer_activations

    config = with_activation_method(get_symmetric_quantization_config(is_per_channel=per_channel), method)
    # hardswish/hardsigmoid/SiLU as add, ReLU6 and mul, which XNNPACK runs in int8: see pt2e_patterns
    return with_integer_activations(XNNPACKQuantizer().set_global(config), XNNPACK_DECOMPOSED)


def xnnpack_qat_quantizer(per_channel: bool = True):
    """The XNNPACK quantizer's QAT configuration: fake-quantize modules that learn with the weights."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                          get_symmetric_quantization_config)

    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel, is_qat=True))


def litert_quantizer(method: str = "minmax", per_channel: bool = True):
    """litert-torch's PT2EQuantizer, static full-integer: int8 weights (per channel) and activations."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

    from edgekit.quantize.pt2e_patterns import (LITERT_DECOMPOSED, annotate_softmax_for_tflite, with_integer_activations,
                                                with_missing_annotations)

    config = get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=False)
    # its add/cat/pooling annotators miss this torch's graphs, and hardsigmoid/SiLU have no int8 TFLite op;
    # TFLite's int8 softmax takes one output scale only (a detector's class probabilities): see pt2e_patterns
    quantizer = with_missing_annotations(PT2EQuantizer().set_global(with_activation_method(config, method)))
    annotate = quantizer.annotate
    quantizer.annotate = lambda model: annotate_softmax_for_tflite(annotate(model), quantizer.global_config)
    return with_integer_activations(quantizer, LITERT_DECOMPOSED)


def leave_in_float(quantizer, module_names: Iterable[str]) -> None:
    """Exclude modules from quantization (the quantizer is changed in place).

    XNNPACK: a module config of None makes its global pattern filter skip the module (its
    set_module_name() asserts on None, so the entry is written directly). litert-torch 0.10's
    module-name filter cannot parse this torch's module-stack keys, so there the annotations of
    nodes inside the modules are removed after annotation instead.
    """
    names = tuple(module_names)
    if not names:
        return
    if hasattr(quantizer, "set_filter_function"):
        for name in names:
            quantizer.module_name_config[name] = None
        return
    annotate = quantizer.annotate
    inside = [inside_module(name, params_inside=False) for name in names]

    def annotate_then_strip(model):
        model = annotate(model)
        stripped = set()
        for node in model.graph.nodes:
            if any(test(node) for test in inside):
                node.meta.pop("quantization_annotation", None)
                stripped.add(node)
        drop_orphaned_shares(model, stripped)
        return model

    quantizer.annotate = annotate_then_strip


def drop_orphaned_shares(model, stripped: set) -> None:
    """Remove the annotations that share a quantization spec with a node whose annotation was removed (litert-torch
    annotates e.g. the ReLU6 after a conv as sharing the conv's output spec; left alone, torchao's prepare_pt2e fails
    with a KeyError naming the conv), until none is left: such a node stays in float with the stripped one."""
    from torchao.quantization.pt2e.quantizer import SharedQuantizationSpec

    def refers_to_stripped(spec) -> bool:
        if not isinstance(spec, SharedQuantizationSpec):
            return False
        target = spec.edge_or_node
        nodes = target if isinstance(target, tuple) else (target,)
        return any(node in stripped for node in nodes)

    changed = True
    while changed:
        changed = False
        for node in model.graph.nodes:
            annotation = node.meta.get("quantization_annotation")
            if annotation is None or node in stripped:
                continue
            specs = list((annotation.input_qspec_map or {}).values()) + [annotation.output_qspec]
            if any(refers_to_stripped(spec) for spec in specs):
                node.meta.pop("quantization_annotation", None)
                stripped.add(node)
                changed = True


def only_quantize(quantizer, module_name: str):
    """Turn `quantizer` into one that quantizes `module_name` alone (everything else float).

    The quantizer annotates the whole graph as usual; then every annotation outside the module is
    removed, except an activation (ReLU, ReLU6) applied directly to the module's output, which the
    backend fuses into the layer (it lives in the next module). Filtering before annotation does
    not work: a conv+ReLU pattern spans two modules and is rejected whole, while ops outside any
    filter (concatenations, pooling) would still be quantized.
    """
    inside = inside_module(module_name, params_inside=False)
    annotate = quantizer.annotate

    def annotate_then_keep_one(model):
        model = annotate(model)
        for node in model.graph.nodes:
            if node.op == "call_function" and not (inside(node) or fused_activation_of(node, inside)):
                node.meta.pop("quantization_annotation", None)
        return model

    quantizer.annotate = annotate_then_keep_one
    return quantizer


FUSED_ACTIVATIONS = {"relu", "relu_", "hardtanh", "hardtanh_", "clamp", "clamp_"}


def fused_activation_of(node, inside) -> bool:
    opname = getattr(node.target, "_opname", "")
    return opname in FUSED_ACTIVATIONS and bool(node.args) and isinstance(node.args[0], torch.fx.Node) and inside(node.args[0])


def inside_module(module_name: str, params_inside: bool = True):
    def accept(node) -> bool:
        stack = node.meta.get("nn_module_stack")
        if not stack:  # parameters and constants: they follow the op that uses them
            return params_inside
        return any(path == module_name or path.startswith(module_name + ".") for path, _ in stack.values())

    return accept


def with_batchnorm(model: nn.Module, names: Sequence[str]) -> tuple[str, ...]:
    """`names` and, after each conv, the BatchNorm2d that follows it in the same Sequential: a conv and its norm are
    siblings in torchvision's blocks, the norm is folded into the conv, and a conv kept in float whose norm is still
    annotated would have its output quantized all the same."""
    names = tuple(names)
    extra = []
    for parent_name, parent in model.named_modules():
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.named_children())
        for (conv_key, conv), (norm_key, norm) in zip(children, children[1:]):
            conv_name = f"{parent_name}.{conv_key}" if parent_name else conv_key
            if conv_name in names and isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                extra.append(f"{parent_name}.{norm_key}" if parent_name else norm_key)
    return names + tuple(name for name in extra if name not in names)


def check_module_names(model: nn.Module, names: Sequence[str]) -> None:
    known = {name for name, _ in model.named_modules()}
    unknown = [name for name in names if name not in known]
    if unknown:
        examples = ", ".join(name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        raise EdgekitError(f"keep-float module(s) not in the model: {', '.join(unknown)} (conv/linear modules: {examples[:300]}...)")


def padded_batches(images: np.ndarray | torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, int]]:
    """(batch, number of real images): an exported graph has a static batch size, so a short last
    batch is padded up to it by repeating its first image (the padding's outputs are dropped)."""
    images = torch.as_tensor(np.ascontiguousarray(images, dtype=np.float32))
    batches = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        real = len(chunk)
        if real < batch_size:
            chunk = torch.cat([chunk, chunk[:1].expand(batch_size - real, *chunk.shape[1:])])
        batches.append((chunk, real))
    return batches


def quantize_pt2e(model: nn.Module, example_input: torch.Tensor, quantizer, calibration: np.ndarray, *,
                  fold_quantize: bool = True, keep_float: Sequence[str] = (),
                  on_progress: OnProgress | Reporter | None = None) -> torch.fx.GraphModule:
    """A converted PT2E graph of `model`, int8 where `quantizer` says, calibrated on `calibration`.

    `calibration`: (N, 3, H, W) float32 images, preprocessed like evaluation. The graph keeps the
    static batch size of `example_input`, so calibration runs in batches of that size (a short
    last batch is padded with repeats of its first image).
    `keep_float`: module names (as in model.named_modules()) left in float; the quantizer is
    updated in place so that a converter handed the same quantizer sees the same choice.
    `on_progress` hears the calibration task (edgekit.progress); None is silence.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if calibration is None or len(calibration) == 0:
        raise EdgekitError("int8 quantization needs at least one calibration image")
    check_module_names(model, keep_float)
    leave_in_float(quantizer, with_batchnorm(model, keep_float))
    model = model.eval()
    graph = torch.export.export(model, (example_input,)).module()
    prepared = prepare_pt2e(graph, quantizer)
    calibrate(prepared, [batch for batch, _ in padded_batches(calibration, example_input.shape[0])], on_progress)
    return convert_pt2e(prepared, fold_quantize=fold_quantize)


def calibrate(prepared: torch.fx.GraphModule, batches: list[torch.Tensor],
              on_progress: OnProgress | Reporter | None = None) -> None:
    """Run the calibration batches through the observers; progress in images."""
    with torch.no_grad(), reporter(on_progress).task("calibrating int8 ranges", sum(len(b) for b in batches)) as advance:
        for batch in batches:
            prepared(batch)
            advance(len(batch))


def run_graph(graph: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray, batch_size: int = 1) -> np.ndarray:
    """Logits of a model or exported graph over many images, `batch_size` at a time (for an
    exported graph: the static batch size it was exported with)."""
    with torch.no_grad():
        return np.concatenate([graph(batch)[:real].float().numpy() for batch, real in padded_batches(images, batch_size)])

