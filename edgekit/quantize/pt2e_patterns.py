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

`quantize_shared_fused_outputs` undoes one more miss. litert-torch's conv+ReLU and add+ReLU
annotators annotate the pair as one fused op: the conv's or add's inputs, the ReLU's output, and
nothing in between, as if the ReLU were the op's only reader. They do not check that (torchao's
XNNPACK annotator does: "add can't be fused with ReLU if the result of add is being used else where
in the graph"). In Xception every residual add's output feeds both the next block's leading ReLU
and its identity skip: the ReLU read the add's raw float output, and the converter kept 11 ADD and
11 RELU in float between 22 DEQUANTIZE/QUANTIZE (66 float ops, measured with
edgekit.export.integer). Where the op has another reader, its output is quantized and the ReLU reads
that quantized tensor (`SharedQuantizationSpec` of the op's output, so one observer serves every reader);
the ReLU keeps its own output qparams (TFLite's int8 RELU rescales).
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
# activations litert-torch's annotators fuse into the op before them (conv+relu, add+relu, ...)
FUSABLE_ACTIVATIONS = ("relu.default", "relu_.default", "hardtanh.default", "hardtanh_.default")


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


def quantize_shared_fused_outputs(model: torch.fx.GraphModule, config) -> torch.fx.GraphModule:
    """Where an annotator fused an op with a following activation (the op's output left unannotated,
    the activation's output quantized) although the op's output has other readers, quantize the op's
    output and let the activation read it (in place). Returns `model`."""
    from torchao.quantization.pt2e.quantizer import SharedQuantizationSpec

    if config is None or config.input_activation is None:
        return model
    act_out = config.output_activation or config.input_activation
    for node in model.graph.nodes:
        if node.op != "call_function" or _op(node) not in FUSABLE_ACTIVATIONS or not node.args:
            continue
        producer = node.args[0]
        fused = node.meta.get("quantization_annotation")
        if (not isinstance(producer, torch.fx.Node) or fused is None or fused.output_qspec is None
                or producer in fused.input_qspec_map or len(producer.users) < 2 or not _is_float_activation(producer)):
            continue
        annotation = producer.meta.get("quantization_annotation")
        if annotation is None or annotation.output_qspec is not None:
            continue  # not a fused pair: the producer's output is quantized, or nothing around it is
        annotation.output_qspec = act_out
        fused.input_qspec_map = {**fused.input_qspec_map, producer: SharedQuantizationSpec(producer)}
    return model


SOFTMAX = ("_softmax.default", "softmax.int")
# TFLite's int8 SOFTMAX kernel accepts one output quantization only (tflite/kernels/activations.cc): scale 1/256,
# zero point -128, the [0, 1) range in 256 steps
TFLITE_SOFTMAX_SCALE, TFLITE_SOFTMAX_ZERO_POINT = 1.0 / 256.0, -128


def annotate_softmax_for_tflite(model: torch.fx.GraphModule, config) -> torch.fx.GraphModule:
    """Quantize each softmax the quantizer left in float (in place): its input with `config`'s qparams, its output
    with the only ones TFLite's int8 SOFTMAX accepts (scale 1/256, zero point -128), and the slices that read it
    (a detector drops the background's column) sharing them. Left unannotated, the converter fused the float softmax
    with the next quantized tensor's qparams (the box coordinates' scale, about 1/255) and LiteRT refused the model
    at load ("output->params.scale not near 1.f / 256"). A classifier's graph ends with logits: no softmax."""
    from torchao.quantization.pt2e.quantizer import (FixedQParamsQuantizationSpec, QuantizationAnnotation,
                                                     SharedQuantizationSpec)

    if config is None or config.input_activation is None:
        return model
    fixed = FixedQParamsQuantizationSpec(dtype=torch.int8, scale=TFLITE_SOFTMAX_SCALE,
                                         zero_point=TFLITE_SOFTMAX_ZERO_POINT, quant_min=-128, quant_max=127,
                                         qscheme=torch.per_tensor_affine)
    for node in model.graph.nodes:
        if node.op != "call_function" or _op(node) not in SOFTMAX or "quantization_annotation" in node.meta:
            continue
        source = node.args[0] if node.args else None
        if not isinstance(source, torch.fx.Node) or not _is_float_activation(source):
            continue
        node.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map={source: config.input_activation}, output_qspec=fixed, _annotated=True)
        readers = [node]
        for user in node.users:
            if _op(user) == "slice.Tensor" and "quantization_annotation" not in user.meta:
                user.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={node: SharedQuantizationSpec(node)},
                    output_qspec=SharedQuantizationSpec(node), _annotated=True)
                readers.append(user)
        # CONCATENATION takes one scale for every input: a cat of the probabilities with other tensors (a detector's
        # boxes, normalised to [0, 1]) takes the softmax's, and the other inputs are requantized to it
        for reader in readers:
            for user in reader.users:
                if _op(user) in CAT and user.args and isinstance(user.args[0], (list, tuple)):
                    parts = [a for a in user.args[0] if isinstance(a, torch.fx.Node)]
                    user.meta["quantization_annotation"] = QuantizationAnnotation(
                        input_qspec_map={a: fixed for a in parts}, output_qspec=fixed, _annotated=True)
    return model


def _is_float_activation(node: torch.fx.Node) -> bool:
    """A float tensor computed in the graph or fed to it (not a weight, not a scalar)."""
    value = node.meta.get("val")
    if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point:
        return False
    return node.op in ("call_function", "placeholder") and not node.name.startswith(("p_", "b_", "c_"))


def with_missing_annotations(quantizer):
    """`quantizer` whose annotate() also runs quantize_shared_fused_outputs and annotate_missing with
    its global config (in place)."""
    annotate = quantizer.annotate

    def annotate_then_complete(model):
        model = quantize_shared_fused_outputs(annotate(model), quantizer.global_config)
        return annotate_missing(model, quantizer.global_config)

    quantizer.annotate = annotate_then_complete
    return quantizer


# ----------------------------------------------------------------------------- activations as integer primitives

XNNPACK_DECOMPOSED = ("hardswish", "hardsigmoid", "silu")  # XNNPACK has no int8 hardswish, hardsigmoid, sigmoid
LITERT_DECOMPOSED = ("hardsigmoid", "silu")  # TFLite has int8 HARD_SWISH and LOGISTIC, no hardsigmoid or SiLU


def decompose_activations(model: torch.fx.GraphModule, which: tuple[str, ...] = XNNPACK_DECOMPOSED) -> torch.fx.GraphModule:
    """Rewrite hardsigmoid(x) as hardtanh(x + 3, 0, 6) * (1/6), hardswish(x) as x * hardsigmoid(x) and silu(x) as
    x * sigmoid(x) (PyTorch's own definitions, exact in float) in place, so that a quantizer annotates each piece.
    Add, ReLU6 and mul have int8 kernels in XNNPACK and TFLite, sigmoid in TFLite (LOGISTIC); hardsigmoid (no
    TFLite op), SiLU and, in XNNPACK, hardswish have none: left whole, the runtime dequantizes, runs the activation
    in float and quantizes again (edgekit.export.integer counts those ops). MobileNetV3's int8 on XNNPACK went
    from 112 float ops (19 hardswish, 9 hardsigmoid, 56 converts) to 0."""
    graph = model.graph
    order = {node: index for index, node in enumerate(graph.nodes)}
    changed = False
    for node in list(graph.nodes):
        name = _op(node).split(".")[0]
        base = name.rstrip("_")
        if node.op != "call_function" or base not in which or not node.args or not isinstance(node.args[0], torch.fx.Node):
            continue
        x = node.args[0]
        with graph.inserting_before(node):
            if base == "silu":
                gate = graph.call_function(torch.ops.aten.sigmoid.default, (x,))
                out = graph.call_function(torch.ops.aten.mul.Tensor, (x, gate))
                created = [gate, out]
            else:
                shifted = graph.call_function(torch.ops.aten.add.Tensor, (x, 3.0))
                clipped = graph.call_function(torch.ops.aten.hardtanh.default, (shifted, 0.0, 6.0))
                out = graph.call_function(torch.ops.aten.mul.Tensor, (clipped, 1.0 / 6.0))
                created = [shifted, clipped, out]
                if base == "hardswish":
                    out = graph.call_function(torch.ops.aten.mul.Tensor, (x, out))
                    created.append(out)
        for new in created:
            new.meta = dict(node.meta)  # same shape and dtype (elementwise); module stack kept for keep_float filters
        node.replace_all_uses_with(out)
        if name != base:  # an in-place activation: later readers of x saw the activated value
            for user in list(x.users):
                if user not in created and order.get(user, -1) > order[node]:
                    user.replace_input_with(x, out)
        graph.erase_node(node)
        changed = True
    if changed:
        graph.lint()
        model.recompile()
    return model


def with_integer_activations(quantizer, which: tuple[str, ...] = XNNPACK_DECOMPOSED):
    """`quantizer` whose transform_for_annotation (run by prepare_pt2e before annotating) first decomposes the
    activations in `which` (in place), then runs its own transform (XNNPACK's turns the scalars 3 and 1/6 into
    tensor constants its add and mul annotators quantize)."""
    transform = quantizer.transform_for_annotation

    def decompose_then_transform(model):
        return transform(decompose_activations(model, which))

    quantizer.transform_for_annotation = decompose_then_transform
    return quantizer
