"""How integer an int8 artifact really is: the ops that compute in float between input and output.

One rule for every format, applied to the graph the runtime executes:

    an op counts as a float op when an activation it reads or writes is float (float32/float16),
    except the two boundary conversions: a quantize of the graph's own float input and a dequantize
    (or an integer op with a dequantized output) whose float result is a graph output.

So a DEQUANTIZE -> ADD -> QUANTIZE island counts three ops (the conversions compute too), and a
fully integer graph counts zero. Constants (weights, scales, biases) are not activations.

    TFLite      the flatbuffer's operators and tensor types, as LiteRT's interpreter reads them
                (`_get_ops_details()`, `get_tensor_details()`)
    ONNX        the graph after onnxruntime's own optimizer (ORT_ENABLE_ALL, the level an
                InferenceSession uses by default; the QDQ -> QLinear* fusions and the NHWC layout
                transform run there), saved with `optimized_model_filepath` on this CPU
    ExecuTorch  the lowered edge graph: ops outside the XNNPACK delegate with a float tensor, and inside
                the delegate the XNNPACK graph it serialized for its runtime (decoded with ExecuTorch's
                schema): a node reading or writing an fp32 value computes in float (XNNPACK has no int8
                hardswish, sigmoid or GELU: it runs them in fp32 between Convert nodes)

The result is a dict recorded as the manifest's `backend.integer`:
    {"float_ops": N, "which": {op: count}, "measured_on": "..."}
"""
from __future__ import annotations

import platform
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FLOAT_TYPES = ("float32", "float16", "float64", "bfloat16")


@dataclass
class Op:
    kind: str  # the runtime's op name
    inputs: list  # activation ids read (constants left out)
    outputs: list  # ids written


def count_float_ops(ops: list[Op], dtypes: dict, graph_inputs: set, graph_outputs: set,
                    quantize: set, dequantize: set) -> Counter:
    """The float ops of a graph by kind, under the module's rule."""
    is_float = lambda tensor: str(dtypes.get(tensor, "")) in FLOAT_TYPES
    found: Counter = Counter()
    for op in ops:
        float_in = [t for t in op.inputs if is_float(t)]
        float_out = [t for t in op.outputs if is_float(t)]
        if op.kind in quantize and float_in and all(t in graph_inputs for t in float_in) and not float_out:
            continue  # the input boundary
        if float_out and all(t in graph_outputs for t in float_out) and not float_in:
            continue  # the output boundary (a dequantize, or an integer op with a float result)
        if float_in or float_out:
            found[op.kind] += 1
    return found


def report(found: Counter, measured_on: str) -> dict:
    return {"float_ops": int(sum(found.values())), "which": dict(sorted(found.items())), "measured_on": measured_on}


def host() -> str:
    """The CPU this was measured on, in words (the ORT optimizer's choices depend on it)."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()} {name}".strip()


# ----------------------------------------------------------------------------- TFLite

def tflite_integer(path: Path | str) -> dict:
    """Float ops of a .tflite file, read by LiteRT's interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    dtypes = {index: _dtype_name(t["dtype"]) for index, t in tensors.items()}
    details = interpreter._get_ops_details()
    produced = {int(i) for op in details for i in op["outputs"]}
    graph_inputs = {int(d["index"]) for d in interpreter.get_input_details()}
    graph_outputs = {int(d["index"]) for d in interpreter.get_output_details()}
    activations = produced | graph_inputs
    ops = [Op(op["op_name"], [int(i) for i in op["inputs"] if int(i) in activations], [int(i) for i in op["outputs"]])
           for op in details]
    found = count_float_ops(ops, dtypes, graph_inputs, graph_outputs, {"QUANTIZE"}, {"DEQUANTIZE"})
    return report(found, "the .tflite flatbuffer as LiteRT's interpreter reads it (any CPU)")


def _dtype_name(dtype) -> str:
    import numpy as np

    return np.dtype(dtype).name


# ----------------------------------------------------------------------------- ONNX

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


# ----------------------------------------------------------------------------- ExecuTorch

CONSTANT_PLACEHOLDERS = ("p_", "b_", "c_", "_lifted", "lowered_module")  # parameters, buffers, lifted constants


def executorch_integer(graph_module) -> dict:
    """Float ops of a lowered ExecuTorch program: the ops outside the XNNPACK delegate, and inside it the nodes of
    the XNNPACK graph the delegate serialized for its runtime (a node on an fp32 value computes in float: XNNPACK
    runs an op it has no quantized kernel for, e.g. hardswish or sigmoid, in fp32 between Convert nodes)."""
    nodes = list(graph_module.graph.nodes)
    dtypes: dict = {}
    for node in nodes:
        value = node.meta.get("val")
        if hasattr(value, "dtype"):
            dtypes[node.name] = str(value.dtype).replace("torch.", "")
    graph_inputs = {n.name for n in nodes if n.op == "placeholder" and n.users and not n.name.startswith(CONSTANT_PLACEHOLDERS)}
    constant = _constant_nodes(nodes, graph_inputs)
    output = next(n for n in nodes if n.op == "output")
    graph_outputs = {arg.name for arg in output.all_input_nodes}
    ops, inside = [], Counter()
    for node in nodes:
        if node.op != "call_function" or node.name in constant:
            continue  # a computation on constants alone (a scalar's dtype conversion) touches no activation
        target = str(node.target)
        if "call_delegate" in target:
            inside += _delegate_float_ops(graph_module, node, graph_inputs, graph_outputs, constant)
            continue
        if "getitem" in target:
            continue
        name = getattr(node.target, "__name__", target).split(":")[0].replace("<EdgeOpOverload", "").strip(" <>")
        ops.append(Op(name, [a.name for a in node.all_input_nodes if a.name in dtypes and a.name not in constant],
                      [node.name]))
    quantize = {op.kind for op in ops if "quantize_per" in op.kind and "dequantize" not in op.kind}
    dequantize = {op.kind for op in ops if "dequantize" in op.kind}
    found = count_float_ops(ops, dtypes, graph_inputs, graph_outputs, quantize, dequantize) + inside
    return report(found, "the lowered ExecuTorch program: ops outside the XNNPACK delegate, and the XNNPACK graph "
                         "the delegate serialized (nodes on fp32 values) (any CPU)")


def _constant_nodes(nodes, graph_inputs: set) -> set:
    """Names of the nodes computed from parameters and constants alone."""
    constant = set()
    for node in nodes:
        if node.op == "get_attr" or (node.op == "placeholder" and node.name not in graph_inputs):
            constant.add(node.name)
        elif node.op == "call_function" and node.all_input_nodes and "call_delegate" not in str(node.target) \
                and all(a.name in constant for a in node.all_input_nodes):
            constant.add(node.name)
    return constant


def _delegate_float_ops(graph_module, node, graph_inputs: set, graph_outputs: set, constant: set) -> Counter:
    """The float ops inside one XNNPACK delegate call, under the module's rule: its inputs that are the program's
    own input and its outputs that are the program's outputs are the boundary; inputs computed from constants
    alone are constants."""
    lowered = getattr(graph_module, node.args[0].target, None)
    if lowered is None or getattr(lowered, "backend_id", "") != "XnnpackBackend":
        return Counter()
    graph = xnnpack_graph(lowered.processed_bytes)
    values = {}
    for value in graph["xvalues"]:
        tensor = value["xvalue_union"]
        tensor = tensor.get("tensor_value", tensor)
        values[tensor["id_out"]] = tensor
    arguments = list(node.args[1:])
    inputs = list(graph["input_ids"])
    outside_names = [getattr(a, "name", None) for a in arguments]
    constant_ids = {i for i, v in values.items() if v.get("constant_buffer_idx", 0)}
    constant_ids |= {inputs[i] for i, name in enumerate(outside_names[:len(inputs)]) if name in constant}
    boundary_in = {inputs[i] for i, name in enumerate(outside_names[:len(inputs)]) if name in graph_inputs}
    readers = {user.args[1]: user.name for user in node.users if "getitem" in str(user.target)}
    outputs = list(graph["output_ids"])
    boundary_out = {value_id for i, value_id in enumerate(outputs)
                    if readers.get(i, node.name if len(outputs) == 1 else None) in graph_outputs}
    dtypes = {i: ("float32" if v["datatype"] == "xnn_datatype_fp32" else "float16" if v["datatype"] == "xnn_datatype_fp16"
                  else v["datatype"].replace("xnn_datatype_", "")) for i, v in values.items()}
    ops = []
    for xnode in graph["xnodes"]:
        fields = xnode["xnode_union"]
        ids = lambda keys: [i for key in keys for i in (fields[key] if isinstance(fields[key], list) else [fields[key]])]
        out_keys = [k for k in fields if k.startswith("output") and (k.endswith("_id") or k.endswith("_ids"))]
        in_keys = [k for k in fields if (k.endswith("_id") or k.endswith("_ids")) and k not in out_keys]
        ops.append(Op("xnnpack:" + xnode["xnode_union_type"].removeprefix("XNN"),
                      [i for i in ids(in_keys) if i in values and i not in constant_ids], ids(out_keys)))
    convert = {"xnnpack:Convert"}
    return count_float_ops(ops, dtypes, boundary_in, boundary_out, convert, convert)


def xnnpack_graph(processed: bytes) -> dict:
    """The XNNGraph (nodes and values) an XNNPACK delegate payload holds, decoded with ExecuTorch's own schema
    and flatc."""
    import json

    from executorch.backends.xnnpack.serialization.xnnpack_graph_serialize import XNNHeader, _get_schema_bytes
    import re

    from executorch.exir._serialize._flatbuffer import _flatc_decompile

    header = XNNHeader.from_bytes(bytes(processed[:XNNHeader.EXPECTED_LENGTH]))
    payload = bytes(processed[header.flatbuffer_offset:header.flatbuffer_offset + header.flatbuffer_size])
    with tempfile.TemporaryDirectory(prefix="edgekit-xnn-") as scratch:
        schema, binary = Path(scratch) / "schema.fbs", Path(scratch) / "graph.bin"
        schema.write_bytes(_get_schema_bytes())
        binary.write_bytes(payload)
        _flatc_decompile(scratch, str(schema), str(binary))
        text = (Path(scratch) / "graph.json").read_text()
    # flatc writes non-finite floats (an unbounded output_min_max) as bare inf/nan: JSON's readers want Infinity/NaN
    text = re.sub(r"(?<=[:\[,\s])(-?)inf(?=[\s,\]}])", r"\1Infinity", text)
    return json.loads(re.sub(r"(?<=[:\[,\s])-?nan(?=[\s,\]}])", "NaN", text))


def summary(integer: dict | None) -> str:
    """One table cell: "0" or "3: ADD×2, DEQUANTIZE"."""
    if not integer:
        return ""
    if not integer["float_ops"]:
        return "0"
    which = ", ".join(f"{op}×{n}" if n > 1 else op for op, n in integer["which"].items())
    return f"{integer['float_ops']}: {which}"
