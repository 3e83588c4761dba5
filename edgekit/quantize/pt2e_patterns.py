"""Annotations litert-torch's PT2E quantizer misses on this torch, so TFLite int8 stays integer.

litert-torch 0.10 finds residual adds and concatenations through `get_source_partitions` on
`operator.add` / `torch.add` / `torch.cat`; the graphs torch.export gives here carry other source
functions, so no add and no cat was annotated (`add.meta` had no quantization_annotation). The
first residual add of a chain still looked integer (its inputs and output were quantized for
their other users), but every add fed by an add read a float tensor: MobileNetV2's TFLite int8 had
9 of 10 ADDs between DEQUANTIZE/QUANTIZE (measured with edgekit.export.integer). The global mean
and pooling had no annotator either.

`annotate_missing` annotates, after the quantizer and only where it left a node unannotated, the
ops the TFLite int8 kernels support with the quantization parameters those kernels require (the
TFLite 8-bit quantization spec):

    add, sub, mul          each input and the output: their own per-tensor qparams
    cat                    the first input's qparams shared by every input and the output
                           (CONCATENATION requires one scale)
    max/avg pooling, reshape, view, flatten, permute, transpose, squeeze, unsqueeze, clone,
    relu/hardtanh/clamp    output shares the input's qparams (no arithmetic on the scale)
    mean, adaptive pool    input and output: their own qparams (MEAN rescales)
"""
from __future__ import annotations

import torch

OWN_QPARAMS = ("add.Tensor", "add_.Tensor", "sub.Tensor", "mul.Tensor", "mean.dim", "adaptive_avg_pool2d.default",
               "_adaptive_avg_pool2d.default")
SHARE_INPUT = ("max_pool2d.default", "avg_pool2d.default", "reshape.default", "view.default", "flatten.using_ints",
               "permute.default", "transpose.int", "squeeze.dim", "squeeze.dims", "unsqueeze.default", "clone.default",
               "relu.default", "relu_.default", "hardtanh.default", "hardtanh_.default", "clamp.default",
               "contiguous.default", "_unsafe_view.default")
CAT = ("cat.default", "concat.default")


def _op(node) -> str:
    target = node.target
    if not isinstance(target, torch._ops.OpOverload):
        return ""
    return f"{target._opname}.{target._overloadname}"


def annotate_missing(model: torch.fx.GraphModule, config) -> torch.fx.GraphModule:
    """Annotate the unannotated add/cat/pool/mean/shape ops of `model` with `config`'s activation
    specs (in place). Ops whose tensor inputs are not all activations are left alone."""
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    if config is None or config.input_activation is None:
        return model
    act_in, act_out = config.input_activation, config.output_activation or config.input_activation
    for node in model.graph.nodes:
        if node.op != "call_function" or "quantization_annotation" in node.meta:
            continue
        name = _op(node)
        inputs = [a for a in node.args if isinstance(a, torch.fx.Node)]
        if name in CAT and node.args and isinstance(node.args[0], (list, tuple)):
            parts = [a for a in node.args[0] if isinstance(a, torch.fx.Node)]
            if not parts or not all(_is_float_activation(a) for a in parts):
                continue
            shared = SharedQuantizationSpec((parts[0], node))
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={a: (act_in if i == 0 else shared) for i, a in enumerate(parts)},
                output_qspec=shared, _annotated=True)
        elif name in OWN_QPARAMS and inputs and all(_is_float_activation(a) for a in inputs):
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={a: act_in for a in inputs}, output_qspec=act_out, _annotated=True)
        elif name in SHARE_INPUT and inputs and _is_float_activation(inputs[0]):
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={inputs[0]: act_in}, output_qspec=SharedQuantizationSpec((inputs[0], node)),
                _annotated=True)
    return model


def _is_float_activation(node: torch.fx.Node) -> bool:
    """A float tensor computed in the graph or fed to it (not a weight, not a scalar)."""
    value = node.meta.get("val")
    if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point:
        return False
    return node.op in ("call_function", "placeholder") and not node.name.startswith(("p_", "b_", "c_"))


def with_missing_annotations(quantizer):
    """`quantizer` whose annotate() also runs annotate_missing with its global config (in place)."""
    annotate = quantizer.annotate

    def annotate_then_complete(model):
        return annotate_missing(annotate(model), quantizer.global_config)

    quantizer.annotate = annotate_then_complete
    return quantizer
