"""ONNX Runtime's own per-node profiler, and the map from its node names to the PyTorch modules they came from.
Used by `edgekit profile` (edgekit.profile) and by export's latency-aware int8 plan (edgekit.export.latency)."""
from __future__ import annotations

import ast
import collections
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError


def node_scopes(node) -> list[str]:
    """The PyTorch module names a node came from (torch.onnx dynamo export records them)."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                return list(ast.literal_eval(prop.value))[:-1]  # the last entry is the op, not a module
            except (ValueError, SyntaxError):
                return []
    return []


WEIGHT_NAME = re.compile(r"^(?P<module>.+)\.weight(_DequantizeLinear_Output|_quantized)?$")
ACTIVATIONS = ("Clip", "Relu", "HardSigmoid", "HardSwish", "Sigmoid")


class OnnxModules:
    """ORT's node names -> the PyTorch module each came from, read off the ONNX graph: the scopes the dynamo
    exporter records (`pkg.torch.onnx.name_scopes`) where present, else the weight a Conv/Gemm reads
    (`features.1.conv.0.0.weight` -> `features.1.conv.0.0`). ORT renames what it optimises: `_token_N` and
    `_quant` suffixes keep the source node's name, `<value>_nchwc` names the value the fused node writes (a
    fused activation's output: its conv's module). A node with neither (an add, a reshape) maps to nothing."""

    def __init__(self, model_path: Path):
        import onnx

        graph = onnx.load(str(model_path), load_external_data=False).graph
        self.nodes = {node.name: node for node in graph.node}
        self.producers = {value: node for node in graph.node for value in node.output}
        self.scopes = {node.name: scopes[-1] for node in graph.node if (scopes := node_scopes(node))}

    def _of_node(self, node, depth: int = 0) -> str | None:
        if node.name in self.scopes:
            return self.scopes[node.name]
        for value in node.input[1:2] if node.op_type in ("Conv", "Gemm", "MatMul") else ():
            match = WEIGHT_NAME.match(value)
            if match:
                return match.group("module")
        if node.op_type in ACTIVATIONS and depth < 2 and node.input and node.input[0] in self.producers:
            return self._of_node(self.producers[node.input[0]], depth + 1)
        return None

    def module(self, ort_name: str) -> str | None:
        for candidate in (ort_name, re.sub(r"_token_\d+$", "", ort_name), re.sub(r"_quant$", "", ort_name),
                          re.sub(r"_nchwc$", "", ort_name)):
            if candidate in self.nodes:
                return self._of_node(self.nodes[candidate])
            if candidate in self.producers:
                return self._of_node(self.producers[candidate])
        return None


def node_times(path: Path, tensor: np.ndarray, threads: int, runs: int, warmup: int
               ) -> tuple[dict[str, tuple[str, float]], list[float]]:
    """({ORT node name: (op type, median ms per run)}, the profiled runs' wall seconds) from ORT's own profiler,
    threads pinned as edgekit.runtime.onnx pins them, the warm-up's events dropped."""
    import onnxruntime

    with tempfile.TemporaryDirectory() as scratch:
        settings = onnxruntime.SessionOptions()
        settings.intra_op_num_threads = threads  # as edgekit.runtime.onnx pins them
        settings.inter_op_num_threads = 1
        settings.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        settings.enable_profiling = True
        settings.profile_file_prefix = str(Path(scratch) / "ort")
        session = onnxruntime.InferenceSession(str(path), settings, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: tensor}
        for _ in range(1 + warmup):
            session.run(None, feed)
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            session.run(None, feed)
            seconds.append(time.perf_counter() - started)
        trace = json.loads(Path(session.end_profiling()).read_text())
    # model_run events mark each run: keep the node events of the last `runs` of them (warm-up dropped)
    events = trace if isinstance(trace, list) else trace.get("traceEvents", [])
    windows = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                     if e.get("cat") == "Session" and e.get("name") == "model_run")[-runs:]
    if len(windows) != runs:
        raise EdgekitError(f"{path}: ORT's trace holds {len(windows)} model_run events, expected at least "
                           f"{runs}")
    durations: dict[str, list[float]] = collections.defaultdict(list)
    op_types: dict[str, str] = {}
    start = windows[0][0]
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith("_kernel_time") or event.get("ts", 0) < start:
            continue
        node = name[:-len("_kernel_time")]
        durations[node].append(float(event.get("dur", 0)))
        op_types[node] = str(event.get("args", {}).get("op_name", "?"))
    return {node: (op_types[node], statistics.median(durs) / 1000.0) for node, durs in durations.items()}, seconds
