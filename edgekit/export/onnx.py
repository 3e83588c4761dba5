"""ONNX: the dynamo exporter, one self-contained file, simplified with onnxslim, checked with onnx.checker.

fp16 converts the float graph with onnxruntime.transformers.float16 keeping float32 input and
output; int8 quantizes the float graph statically through edgekit.quantize.onnx_static.
"""
from __future__ import annotations

import tempfile
import warnings
from collections import Counter
from pathlib import Path

import torch

from edgekit.export.base import INPUT_NAME, ExportRequest, declared_tensors
from edgekit.export.integer import Op, count_float_ops, host, report

NAME_SCOPES = "pkg.torch.onnx.name_scopes"  # a node's PyTorch module path, as torch.onnx's exporter records it
OPSET = 18  # the dynamo exporter's default and lowest supported opset; stated in the manifest


class OnnxBackend:
    name = "onnx"

    def export(self, request: ExportRequest, path: Path) -> dict:
        import onnx
        import onnxruntime
        import onnxslim

        with tempfile.TemporaryDirectory(prefix="edgekit-onnx-") as scratch:
            float_path = Path(scratch) / "float.onnx"
            export_float(request, float_path)
            extra = {"converter": {"name": "torch.onnx (dynamo)", "version": torch.__version__},
                     "simplifier": {"name": "onnxslim", "version": onnxslim.__version__}}
            if request.precision == "fp32":
                without_scopes(float_path, path)
            elif request.precision == "fp16":
                from onnxruntime.transformers.float16 import convert_float_to_float16

                from onnxruntime.transformers.onnx_model import OnnxModel

                half = OnnxModel(convert_float_to_float16(onnx.load(str(float_path)), keep_io_types=True))
                half.topological_sort()  # the converter appends its input casts after their consumers
                onnx.save(half.model, str(path))
                without_scopes(path, path)
                extra["fp16_converter"] = {"name": "onnxruntime.transformers.float16", "version": onnxruntime.__version__,
                                           "io": "float32 input and output, float16 inside"}
            else:
                from edgekit.quantize.onnx_static import quantize_onnx_static

                quantize_onnx_static(float_path, path, request.calibration, method=request.options.calib_method,
                                     per_channel=True, nodes_to_exclude=list(request.options.keep_float),
                                     reduce_range=request.options.reduce_range)
                without_scopes(path, path)

                extra["quantizer"] = {"name": "onnxruntime.quantization.quantize_static (QDQ)",
                                      "version": onnxruntime.__version__, "method": request.options.calib_method,
                                      "per_channel": True, "activations": "uint8 (asymmetric, per tensor)",
                                      "weights": ("int8 (symmetric, per channel" +
                                                  (", 7-bit range: reduce_range)" if request.options.reduce_range else ")")),
                                      "reduce_range": request.options.reduce_range,
                                      "keep_float": list(request.options.keep_float),
                                      "calibration_images": len(request.calibration)}
                extra["integer"] = onnx_integer(path)
        onnx.checker.check_model(str(path), full_check=True)
        return {**extra, **self.inspect(path)}

    def inspect(self, path: Path) -> dict:
        import onnx

        opsets = {entry.domain or "ai.onnx": entry.version
                  for entry in onnx.load(str(path), load_external_data=False).opset_import}
        return {**declared_tensors("onnx", path), "opset": opsets.get("ai.onnx")}


def export_float(request: ExportRequest, path: Path) -> None:
    """torch.onnx.export (dynamo) into a single file, then onnxslim."""
    import onnxslim

    dynamic_shapes = ({"x": {0: torch.export.Dim("batch", min=1, max=1024)}}
                      if request.options.dynamic_batch else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(request.model, (request.example_input,), dynamo=True, external_data=False,
                                    opset_version=OPSET, input_names=[INPUT_NAME], output_names=[request.output_name],
                                    dynamic_shapes=_named_dynamic_shapes(request.model, dynamic_shapes), verbose=False)
    program.save(str(path), external_data=False)
    import onnx

    scopes = {node.name: [prop for prop in node.metadata_props if prop.key == NAME_SCOPES]
              for node in onnx.load(str(path)).graph.node}
    slim = onnxslim.slim(str(path))
    # onnxslim drops the nodes' metadata, where the exporter records the PyTorch modules each node came from: the
    # scopes alone are put back (--keep-float and the int8 repair name layers by module; the exporter's other
    # entries, class hierarchies and FX nodes, would add ~4 % to a small model's file)
    for node in slim.graph.node:
        if not node.metadata_props and scopes.get(node.name):
            node.metadata_props.extend(scopes[node.name])
    onnx.save(slim, str(path))


def without_scopes(source: Path, path: Path) -> None:
    """`source` saved at `path` without the module scopes export_float kept for naming layers: the artifact a phone
    loads carries no bytes it never reads (as before onnxslim's metadata loss was undone)."""
    import onnx

    model = onnx.load(str(source))
    for node in model.graph.node:
        kept = [prop for prop in node.metadata_props if prop.key != NAME_SCOPES]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    onnx.save(model, str(path))


def _named_dynamic_shapes(model, shapes):
    """torch.export wants dynamic shapes keyed by the forward argument's own name."""
    if shapes is None:
        return None
    import inspect

    first_argument = next(iter(inspect.signature(model.forward).parameters))
    return {first_argument: shapes["x"]}


BACKEND = OnnxBackend()


# ----------------------------------------------------------------------------- integer check (edgekit.export.integer's rule)

ONNX_TYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16", 2: "uint8", 3: "int8", 4: "uint16",
              5: "int16", 6: "int32", 7: "int64", 9: "bool", 12: "uint32", 13: "uint64"}
# contrib/integer ops whose output type is that of an output zero point (input index), else float
ZERO_POINT_OUTPUT = {"QuantizeLinear": 2, "QLinearConv": 7, "QLinearAdd": 7, "QLinearMul": 7, "QLinearMatMul": 7,
                     "QLinearGlobalAveragePool": 4, "QLinearAveragePool": 4, "QLinearConcat": 1,
                     "QLinearSigmoid": 4, "QLinearLeakyRelu": 4, "QLinearSoftmax": 4, "QLinearReduceMean": 4,
                     "QGemm": 8, "QLinearConvTranspose": 7, "QLinearWhere": 8}
INT32_OUTPUT = ("MatMulInteger", "ConvInteger", "MatMulIntegerToFloat")


def optimized_onnx(path: Path | str, out: Path | str, level: str = "ORT_ENABLE_ALL") -> None:
    """Save the graph onnxruntime executes on this CPU (its optimizer at `level`)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3  # the "hardware specific optimizations" warning is the point here
    onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_integer(path: Path | str, level: str = "ORT_ENABLE_ALL") -> dict:
    """Float ops of an ONNX model after onnxruntime's optimizer, on this CPU."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="edgekit-ort-opt-") as scratch:
        optimized = Path(scratch) / "optimized.onnx"
        optimized_onnx(path, optimized, level)
        model = onnx.load(str(optimized))
    found = onnx_float_ops(model)
    import onnxruntime

    return report(found, f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider, {level}, on {host()}")


def onnx_float_ops(model) -> Counter:
    """Float ops of an (optimized) ONNX graph; tensor types propagated from inputs and constants."""
    graph = model.graph
    dtypes = {t.name: ONNX_TYPES.get(t.data_type, str(t.data_type)) for t in graph.initializer}
    constants = set(dtypes)
    for value in graph.input:
        dtypes[value.name] = ONNX_TYPES.get(value.type.tensor_type.elem_type, "")
    ops = []
    for node in graph.node:  # ORT saves a topologically sorted graph
        if node.op_type == "Constant":
            constants.update(node.output)
            continue
        for name in node.output:
            dtypes[name] = _onnx_output_type(node, dtypes)
        ops.append(Op(node.op_type, [i for i in node.input if i and i not in constants], list(node.output)))
    graph_inputs = {value.name for value in graph.input} - constants
    graph_outputs = {value.name for value in graph.output}
    return count_float_ops(ops, dtypes, graph_inputs, graph_outputs, {"QuantizeLinear"}, {"DequantizeLinear"})


def _onnx_output_type(node, dtypes: dict) -> str:
    if node.op_type in ZERO_POINT_OUTPUT:
        index = ZERO_POINT_OUTPUT[node.op_type]
        if len(node.input) > index and node.input[index]:
            return dtypes.get(node.input[index], "")
        return "uint8" if node.op_type == "QuantizeLinear" else "float32"  # QGemm without y_scale: float out
    if node.op_type == "DequantizeLinear" or node.op_type == "MatMulIntegerToFloat":
        return "float32"
    if node.op_type in INT32_OUTPUT:
        return "int32"
    if node.op_type in ("Shape", "Size"):
        return "int64"
    if node.op_type == "Cast":
        to = next(a.i for a in node.attribute if a.name == "to")
        return ONNX_TYPES.get(to, str(to))
    first = next((i for i in node.input if i), None)
    return dtypes.get(first, "")
