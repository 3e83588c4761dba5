"""ExecuTorch: torch.export, lowered to the XNNPACK delegate, written as a .pte.

fp16 runs a half-precision copy of the model behind float32 input/output casts (XNNPACK has fp16
kernels); int8 lowers the PT2E graph quantized with edgekit.quantize's XNNPACK quantizer. The
manifest says how much of the graph XNNPACK took: delegate calls vs operators left to the portable
CPU kernels.
"""
from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import torch
from torch import nn

from edgekit.export.base import ExportRequest, declared_tensors

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
            from edgekit.export.integer import executorch_integer

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
