"""ExecuTorch: torch.export, lowered to the XNNPACK delegate, written as a .pte.

fp16 runs a half-precision copy of the model behind float32 input/output casts (XNNPACK has fp16
kernels); int8 lowers the PT2E graph quantized with edgekit.quantize's XNNPACK quantizer. The
manifest says how much of the graph XNNPACK took: delegate calls vs operators left to the portable
CPU kernels.
"""
from __future__ import annotations

import copy
import tempfile
from collections import Counter
from pathlib import Path

import torch
from torch import nn

from edgekit.export.base import ExportRequest, declared_tensors
from edgekit.export.integer import Op, count_float_ops, report

IGNORED_NODES = ("getitem",)  # tuple unpacking, not an operator


class HalfPrecision(nn.Module):
    """A half-precision copy of a model that takes and returns float32 tensors."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(model).half().eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.half()).float()


class ExecuTorchBackend:
    name = "executorch"

    def export(self, request: ExportRequest, path: Path) -> dict:
        from importlib.metadata import version

        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        model, extra = self._model_for(request)
        program = torch.export.export(model, (request.example_input,))
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        delegation = count_delegation(edge.exported_program().graph_module)
        if request.precision == "int8":
            extra["integer"] = executorch_integer(edge.exported_program().graph_module)
        path.write_bytes(edge.to_executorch().buffer)
        return {**extra, "converter": {"name": "executorch (XNNPACK)", "version": version("executorch")},
                "delegation": delegation, "methods": ["forward"], **declared_tensors("executorch", path)}

    def _model_for(self, request: ExportRequest) -> tuple[nn.Module, dict]:
        if request.precision == "fp16":
            return HalfPrecision(request.model), {"fp16": "half-precision weights and compute behind float32 input/output casts"}
        if request.precision == "int8":
            from edgekit.quantize.pt2e import quantize_pt2e, xnnpack_quantizer

            graph = quantize_pt2e(request.model, request.example_input,
                                  quantizer=xnnpack_quantizer(request.options.calib_method),
                                  calibration=request.calibration, keep_float=request.options.keep_float)
            return graph, {"quantizer": {"name": "torchao PT2E + XNNPACKQuantizer (symmetric)", "per_channel": True,
                                         "method": request.options.calib_method,
                                         "calibration_images": len(request.calibration),
                                         "keep_float": list(request.options.keep_float)}}
        return request.model, {}


def count_delegation(graph_module) -> dict:
    """Delegate calls vs operators that stay outside XNNPACK, read off the lowered edge graph."""
    calls = [n for n in graph_module.graph.nodes if n.op == "call_function"]
    delegated = sum(1 for n in calls if "call_delegate" in str(n.target))
    others = Counter(_op_name(n.target) for n in calls
                     if "call_delegate" not in str(n.target) and not any(i in str(n.target) for i in IGNORED_NODES))
    return {"delegate_calls": delegated, "non_delegated_ops": sum(others.values()),
            "non_delegated": dict(sorted(others.items())), "backend": "XnnpackBackend"}


def _op_name(target) -> str:
    name = getattr(target, "__name__", None) or str(target)
    return str(name).split(":")[0].replace("<EdgeOpOverload", "").strip(" <>")


BACKEND = ExecuTorchBackend()


# ----------------------------------------------------------------------------- integer check (edgekit.export.integer's rule)

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
