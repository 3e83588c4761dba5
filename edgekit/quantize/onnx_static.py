"""Static int8 for ONNX Runtime: quant_pre_process, then quantize_static in QDQ format.

Weights: int8, symmetric, per output channel. Activations: uint8, asymmetric, per tensor (U8S8).
U8S8 is what onnxruntime's optimizer fuses completely: with these QDQ pairs every Conv, Add and
Gemm of the zoo's graphs becomes QLinearConv / QLinearAdd / QGemm (0 float ops after ORT_ENABLE_ALL,
edgekit.export.integer counts them), while S8S8 (int8 activations) left 15 pointwise Conv and the
10 residual Add of MobileNetV2 in float between DequantizeLinear/QuantizeLinear in onnxruntime 1.32
(measured 2026-11-26; docs/quantization.md). u8 x s8 is also the operand pair of x86's VNNI
instruction (vpdpbusd) that MLAS uses, and ARM's kernels run it at the same speed as S8S8.
`reduce_range=True` stores 7-bit weights for x86 CPUs without VNNI, whose 16-bit intermediate sums
can saturate with full-range u8 x s8 products (ORT's documented caveat).

Before quantizing, a global mean over H and W (`x.mean((2, 3), keepdim=True)`, exported as
ReduceMean) is rewritten as the equivalent GlobalAveragePool: ORT has QLinearGlobalAveragePool and
no integer ReduceMean, so the classifier's pooling would otherwise stay in float. Likewise HardSigmoid and
HardSwish (MobileNetV3) become Mul, Add and Clip (hard_sigmoid_as_primitives): ORT has no integer kernel for
them and fuses those.

And a Relu (or Clip) reading an Add's or Mul's output that has other readers too gets its own copy of
that Add/Mul. ORT's QDQ quantizer folds a Relu into the op before it (the op's output takes the
Relu's [0, max] range, so QLinearAdd's uint8 saturation is the ReLU) only when the Relu is that
output's single reader (`try_replacing_upstream_output`); otherwise the Relu keeps its own QDQ pair
with other qparams than the op's output, ORT's optimizer drops the Relu (the uint8 QuantizeLinear
after it has zero point 0 and clips at 0 anyway) and a DequantizeLinear -> QuantizeLinear
requantization stays in float. Xception's residual adds feed both
the next block's ReLU and its skip: 11 such pairs (22 float ops) in onnxruntime 1.32. With a copy,
one QLinearAdd writes the skip's tensor and the other the ReLU's: an integer add more, no float op.

Calibration method names map to onnxruntime's CalibrationMethod:

    minmax          MinMax
    moving_average  MinMax with moving_average=True
    histogram       Percentile (99.999th percentile of |x|, from a 2048-bin histogram): ORT has no
                    counterpart of PyTorch's error-minimising HistogramObserver, and its
                    Entropy search clips far harder (below)
    entropy         Entropy (histogram + KL divergence search)
    percentile      Percentile (99.999th percentile of |x|)
    distribution    Distribution

edgekit runs ORT's calibrator itself (create_calibrator) and hands the ranges to quantize_static
through ORT's calibration cache, because quantize_static cannot pass the histogram size: its
Entropy default of 128 bins for 128 quantized bins leaves the KL search one candidate, the full
range, so "entropy" silently equalled min-max (identical scales, measured 2026-11-24). 2048 bins
for 128 quantized bins is the TensorRT recipe ORT's entropy calibrator follows. With it, entropy
clipped the SqueezeNet1.1 fixture run's ranges so far that int8 top-1 fell from 72 % to 21 %, which
export's verification rejects: it is offered, not recommended.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.runtime.onnx_profile import node_scopes

ONNX_METHODS = ("minmax", "moving_average", "histogram", "entropy", "percentile", "distribution")
WEIGHT_OPS = ("Conv", "Gemm", "MatMul", "ConvTranspose")


def calibration_settings(method: str) -> tuple[object, dict]:
    """(CalibrationMethod, create_calibrator extra_options) for a method name."""
    from onnxruntime.quantization import CalibrationMethod

    table = {"minmax": (CalibrationMethod.MinMax, {}),
             "moving_average": (CalibrationMethod.MinMax, {"moving_average": True}),
             "histogram": (CalibrationMethod.Percentile, {"percentile": 99.999}),
             "entropy": (CalibrationMethod.Entropy, {"num_bins": 2048, "num_quantized_bins": 128}),
             "percentile": (CalibrationMethod.Percentile, {"percentile": 99.999}),
             "distribution": (CalibrationMethod.Distribution, {})}
    if method not in table:
        raise EdgekitError(f"calibration method {method!r} is not available for ONNX Runtime; choose one of: {', '.join(ONNX_METHODS)}")
    return table[method]


def make_reader(input_name: str, calibration: np.ndarray, batch_size: int):
    """A CalibrationDataReader over the array, in batches the model's input accepts."""
    from onnxruntime.quantization import CalibrationDataReader

    images = np.ascontiguousarray(calibration, dtype=np.float32)

    class ArrayReader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(images[i:i + batch_size] for i in range(0, len(images), batch_size))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    return ArrayReader()


def static_batch_size(model) -> int | None:
    """The input's fixed batch size, or None when the batch dimension is dynamic."""
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None


def resolve_excluded_nodes(model, names: Sequence[str]) -> list[str]:
    """ONNX node names for `names`: ONNX node names as they are, or PyTorch module names.

    A module's nodes are those whose recorded scopes include it. The exporter fuses a conv with
    its batch norm and keeps the norm's scope, so a conv/linear module with no node of its own
    also matches weight ops in a sibling module (same parent): this can keep a neighbour conv in
    float too, never fewer than asked.
    """
    node_names = {node.name for node in model.graph.node}
    resolved: list[str] = []
    for name in names:
        if name in node_names:
            resolved.append(name)
            continue
        matches = [node.name for node in model.graph.node if name in node_scopes(node)]
        if not matches and "." in name:
            parent = name.rsplit(".", 1)[0]
            matches = [node.name for node in model.graph.node if node.op_type in WEIGHT_OPS
                       and len(node_scopes(node)) >= 2 and node_scopes(node)[-1].rsplit(".", 1)[0] == parent]
        if not matches:
            raise EdgekitError(f"keep-float name {name!r} is neither an ONNX node nor a module recorded in the ONNX graph")
        resolved.extend(matches)
    return sorted(set(resolved))


def mean_as_global_pool(model) -> int:
    """Replace ReduceMean over axes (2, 3) of a 4-D tensor by GlobalAveragePool (then Flatten when
    keepdims=0), in place; returns how many. Same values, but ORT has an integer kernel for the
    pooling (QLinearGlobalAveragePool) and none for ReduceMean."""
    from onnx import helper, numpy_helper

    graph = model.graph
    constants = {t.name: t for t in graph.initializer}
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in list(graph.value_info) + list(graph.input)
             if v.type.tensor_type.HasField("shape")}
    replaced = 0
    for node in list(graph.node):
        if node.op_type != "ReduceMean" or len(node.input) != 2 or node.input[1] not in constants:
            continue
        rank = ranks.get(node.input[0])
        keepdims = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
        if rank != 4:
            continue
        axes = sorted(int(a) % 4 for a in numpy_helper.to_array(constants[node.input[1]]).reshape(-1))
        if axes != [2, 3]:
            continue
        pooled = list(node.output) if keepdims else [f"{node.output[0]}_pooled"]
        position = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(position, helper.make_node("GlobalAveragePool", [node.input[0]], pooled,
                                                     name=f"{node.name}_as_GlobalAveragePool"))
        if not keepdims:
            graph.node.insert(position + 1, helper.make_node("Flatten", pooled, list(node.output), axis=1,
                                                             name=f"{node.name}_flatten"))
        replaced += 1
    return replaced


def hard_sigmoid_as_primitives(model) -> int:
    """Replace HardSigmoid(x) = clip(alpha * x + beta, 0, 1) by Mul, Add and Clip, and HardSwish(x) by
    x * HardSigmoid(x) so written, in place; returns how many. Same values, but ORT has integer kernels for Mul
    and Add (QLinearMul, QLinearAdd; the Clip folds into the Add's output range) and none for HardSigmoid or
    HardSwish: MobileNetV3's 28 HardSigmoid (its squeeze-excitation gates, and its hardswish as x * HardSigmoid)
    otherwise stay in float between DequantizeLinear and QuantizeLinear."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    replaced = 0
    for node in list(graph.node):
        if node.op_type not in ("HardSigmoid", "HardSwish") or node.domain not in ("", "ai.onnx"):
            continue
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        alpha = float(attributes.get("alpha", 0.2 if node.op_type == "HardSigmoid" else 1.0 / 6.0))
        beta = float(attributes.get("beta", 0.5))
        stem = node.name or node.output[0]
        constants = {f"{stem}_alpha": alpha, f"{stem}_beta": beta, f"{stem}_zero": 0.0, f"{stem}_one": 1.0}
        for name, value in constants.items():
            graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
        x = node.input[0]
        gate = node.output[0] if node.op_type == "HardSigmoid" else f"{stem}_gate"
        made = [helper.make_node("Mul", [x, f"{stem}_alpha"], [f"{stem}_scaled"], name=f"{stem}_mul"),
                helper.make_node("Add", [f"{stem}_scaled", f"{stem}_beta"], [f"{stem}_shifted"], name=f"{stem}_add"),
                helper.make_node("Clip", [f"{stem}_shifted", f"{stem}_zero", f"{stem}_one"], [gate], name=f"{stem}_clip")]
        if node.op_type == "HardSwish":
            made.append(helper.make_node("Mul", [x, gate], list(node.output), name=f"{stem}_swish"))
        position = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, new in enumerate(made):
            for prop in node.metadata_props:  # the module scopes keep-float names resolve through
                new.metadata_props.add(key=prop.key, value=prop.value)
            graph.node.insert(position + offset, new)
        replaced += 1
    return replaced


OWN_COPY_OPS = ("Add", "Mul")  # elementwise, cheap to compute twice; ORT fuses both (QLinearAdd, QLinearMul)
ACTIVATIONS = ("Relu", "Clip")  # what ORT's QDQ quantizer folds into the op before it
COPY_OF = "edgekit.copy_of"  # metadata_props key: the node a copy was made from


def own_copy_for_activations(model) -> int:
    """Give every Relu/Clip whose input is an Add/Mul output with other readers (or a graph output)
    its own copy of that Add/Mul, in place; returns how many copies. Same values, but now the
    activation is its op's only reader, so ORT's quantizer can fold it into the op."""
    from onnx import NodeProto

    graph = model.graph
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    producers = {name: node for node in graph.node for name in node.output}
    graph_outputs = {value.name for value in graph.output}
    value_info = {value.name: value for value in graph.value_info}
    copies = 0
    for node in list(graph.node):
        if node.op_type not in ACTIVATIONS or not node.input:
            continue
        source = node.input[0]
        producer = producers.get(source)
        if producer is None or producer.op_type not in OWN_COPY_OPS or len(producer.output) != 1:
            continue
        if len(readers[source]) < 2 and source not in graph_outputs:
            continue
        copy = NodeProto()
        copy.CopyFrom(producer)
        copy.name = f"{producer.name or producer.output[0]}_for_{node.name or node.output[0]}"
        copy.output[0] = f"{source}_for_{node.name or node.output[0]}"
        copy.metadata_props.add(key=COPY_OF, value=producer.name)
        graph.node.insert(list(graph.node).index(producer) + 1, copy)
        if source in value_info:
            typed = graph.value_info.add()
            typed.CopyFrom(value_info[source])
            typed.name = copy.output[0]
        node.input[0] = copy.output[0]
        readers[source].remove(node)
        copies += 1
    return copies


def copies_of(model, names: Sequence[str]) -> list[str]:
    """The names of the nodes own_copy_for_activations copied from `names` (kept in float with them)."""
    wanted = set(names)
    return [node.name for node in model.graph.node
            if any(prop.key == COPY_OF and prop.value in wanted for prop in node.metadata_props)]


def quantize_onnx_static(fp32_path: Path | str, out_path: Path | str, calibration: np.ndarray, *, method: str = "minmax",
                         per_channel: bool = True, nodes_to_exclude: Sequence[str] = (), reduce_range: bool = False) -> None:
    """Write a QDQ int8 copy of the float ONNX model at `out_path`, calibrated on `calibration`.

    `calibration`: (N, 3, H, W) float32 images, preprocessed like evaluation. `nodes_to_exclude`:
    ONNX node names or PyTorch module names left in float. Nothing is left at `out_path` on failure.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, create_calibrator, quantize_static
    from onnxruntime.quantization.calibrate import save_tensors_data
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibrate_method, extra_options = calibration_settings(method)
    if calibration is None or len(calibration) == 0:
        raise EdgekitError("int8 quantization needs at least one calibration image")
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="edgekit-ort-quant-") as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared))  # shape inference + graph cleanup, as ORT recommends
        model = onnx.load(str(prepared))
        if mean_as_global_pool(model) + hard_sigmoid_as_primitives(model) + own_copy_for_activations(model):
            onnx.save(model, str(prepared))
        excluded = resolve_excluded_nodes(model, nodes_to_exclude)
        excluded = sorted(set(excluded + copies_of(model, excluded)))
        reader = make_reader(model.graph.input[0].name, calibration, static_batch_size(model) or 32)
        calibrator = create_calibrator(prepared, augmented_model_path=str(Path(work) / "augmented.onnx"),
                                       calibrate_method=calibrate_method, providers=["CPUExecutionProvider"],
                                       extra_options=extra_options)
        with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print() their progress
            calibrator.collect_data(reader)
            tensor_ranges = calibrator.compute_data()
        ranges = Path(work) / "ranges.json"
        save_tensors_data(tensor_ranges, ranges)
        staged = Path(work) / "quantized.onnx"
        quantize_static(str(prepared), str(staged), None, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=excluded,
                        calibrate_method=calibrate_method, calibration_cache_path=ranges,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
        out_path.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(out_path)
