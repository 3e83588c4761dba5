"""ONNX Runtime (CPU execution provider) for `.onnx` artifacts.

Threads: SessionOptions.intra_op_num_threads = n, inter_op_num_threads = 1, sequential execution. Integer
inputs (an int8 QDQ graph keeps float input and output) are quantized by the base class when declared.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edgekit.runtime import Runtime, TensorSpec, Timer, image_layout
from edgekit.runtime.device_tool import (NUMBER, DeviceTool, ToolOutputError, ToolTiming, body_lines, last_words,
                                         seconds_or_ms)

ONNX_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
               "tensor(int8)": "int8"}


def runs_here() -> tuple[bool, str]:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as error:
        return False, f"onnxruntime is not importable here: {error}"
    return True, ""


def _spec(arg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorSpec(arg.name, shape, ONNX_DTYPES.get(arg.type, arg.type), image_layout(shape))


class OnnxRuntime(Runtime):
    format = "onnx"
    runtime = "onnxruntime"
    delegate = "CPUExecutionProvider"

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            self.threads_setting = f"SessionOptions.intra_op_num_threads={threads}, inter_op_num_threads=1, sequential"
        else:
            self.threads_setting = "none: onnxruntime's default (one intra-op thread per core)"
        with Timer() as timer:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.load_ms = timer.ms
        self.runtime_version = onnxruntime.__version__
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        super().__init__(path, _spec(inputs[0]), _spec(outputs[0]))
        self.batch_free = self.input.shape[:1] == (None,)

    def prepare(self, tensor: np.ndarray):
        return {self.input.name: tensor}

    def invoke(self, prepared) -> np.ndarray:
        return self.session.run(None, prepared)[0]


def load(path: Path, threads: int | None = None) -> OnnxRuntime:
    return OnnxRuntime(path, threads)


# ----------------------------------------------------------------------------- the on-device tool

def parse_onnxruntime_perf_test(text: str) -> ToolTiming:
    """`onnxruntime_perf_test -m times -r N` prints session creation, the average, and (1.x builds since 2020)
    `Min/Max/P50/P90/P95/P99/P999 Latency is X sec` (newer: `P50 Latency: X s`). It runs one warm-up itself."""
    lines = body_lines(text)
    result = ToolTiming(tool="onnxruntime_perf_test", warmup=1)
    for line in lines:
        m = re.search(r"Session creation time cost:\s*" + NUMBER + r"\s*(s|ms)", line)
        if m:
            result.load_ms = seconds_or_ms(m.group(1), m.group(2))
        m = re.search(r"First inference time cost:\s*" + NUMBER + r"\s*(ms|s)", line)
        if m:
            result.first_ms = seconds_or_ms(m.group(1), m.group(2))
        m = re.search(r"(?:Total inference requests|Total iterations):\s*(\d+)", line)
        if m:
            result.iterations = int(m.group(1))
        m = re.search(r"Average (?:inference )?time cost:\s*" + NUMBER + r"\s*ms", line)
        if m:
            result.mean_ms = float(m.group(1))
        m = re.search(r"Peak working set size:\s*(\d+) bytes", line)
        if m:
            result.peak_mem_mb = int(m.group(1)) / 2**20
        m = re.search(r"Setting intra_op_num_threads to (\d+)", line)
        if m:
            result.threads_reported = int(m.group(1))
        m = re.search(r"(Min|Max|P50|P90|P99) Latency(?: is|:)\s*" + NUMBER + r"\s*(sec|s|ms)\b", line)
        if m:
            value = seconds_or_ms(m.group(2), m.group(3))
            setattr(result, {"Min": "min_ms", "Max": "max_ms", "P50": "p50_ms", "P90": "p90_ms",
                             "P99": "p99_ms"}[m.group(1)], value)
    if result.mean_ms is None:
        raise ToolOutputError(f"onnxruntime_perf_test gave no timings: {last_words(lines)}")
    if result.p50_ms is None:
        result.notes.append("this onnxruntime_perf_test prints no percentiles (mean only)")
    return result


def _command(binary: str, model: str, threads: int, iterations: int, warmup: int) -> str:
    return f"{binary} -I -m times -r {iterations} -x {threads} -e cpu {model}"


DEVICE_TOOL = DeviceTool("onnxruntime_perf_test", command=_command, parse=lambda text, warmup: parse_onnxruntime_perf_test(text), own_warmup=1)
