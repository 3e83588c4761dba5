"""LiteRT (ai-edge-litert's Interpreter, its default XNNPACK delegate) for `.tflite` artifacts.

Threads: Interpreter(num_threads=n). litert-torch's int8 artifacts take and give int8 tensors (even without
--int8-io): the base class quantizes the input with its scale and zero point and dequantizes the output. The
layout is the interpreter's own (NHWC for litert-torch), read off the input's shape.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edgekit.runtime import Runtime, TensorSpec, Timer, image_layout, package_version
from edgekit.runtime.device_tool import NUMBER, DeviceTool, ToolOutputError, ToolTiming, body_lines, last_words


def runs_here() -> tuple[bool, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
    except ImportError as error:
        return False, f"ai-edge-litert is not importable here: {error}"
    return True, ""


def _spec(details: dict) -> TensorSpec:
    shape = tuple(int(d) for d in details["shape"])
    scale, zero_point = details.get("quantization", (0.0, 0))
    dtype = np.dtype(details["dtype"]).name
    quantized = dtype in ("int8", "uint8") and scale
    return TensorSpec(details["name"], shape, dtype, image_layout(shape),
                      float(scale) if quantized else None, int(zero_point) if quantized else None)


class TFLiteRuntime(Runtime):
    format = "tflite"
    runtime = "ai-edge-litert"
    delegate = "XNNPACK (default delegate)"

    def __init__(self, path: Path, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        with Timer() as timer:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
            self.interpreter.allocate_tensors()
        self.load_ms = timer.ms
        self.runtime_version = package_version("ai-edge-litert")
        self.threads_setting = (f"Interpreter(num_threads={threads})" if threads is not None
                                else "none: the interpreter's default")
        input_details = self.interpreter.get_input_details()[0]
        output_details = self.interpreter.get_output_details()[0]
        self._in, self._out = input_details["index"], output_details["index"]
        super().__init__(path, _spec(input_details), _spec(output_details))

    def invoke(self, prepared: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self._in, prepared)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._out)


def load(path: Path, threads: int | None = None) -> TFLiteRuntime:
    return TFLiteRuntime(path, threads)


# ----------------------------------------------------------------------------- the on-device tool

def parse_benchmark_model(text: str) -> ToolTiming:
    """`benchmark_model` prints a `count=... avg= std=` line per phase (warm-up, then the timed runs) and
    `Inference timings in us: Init: a, First inference: b, Warmup (avg): c, Inference (avg): d`. Times are us."""
    lines = body_lines(text)
    summary = None
    stats_lines = []
    result = ToolTiming(tool="benchmark_model")
    for line in lines:
        m = re.search(r"Inference timings in us: Init: " + NUMBER + r", First inference: " + NUMBER
                      + r", Warmup \(avg\): " + NUMBER + r", Inference \(avg\): " + NUMBER, line)
        if m:
            summary = [float(g) for g in m.groups()]
        stripped = line.strip()
        if stripped.startswith("count=") and "first=" in stripped:
            stats_lines.append(dict(re.findall(r"(\w+)=" + NUMBER, stripped)))
        m = re.search(r"Num threads: \[(\d+)\]", line)
        if m:
            result.threads_reported = int(m.group(1))
        m = re.search(r"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): "
                      r"init=" + NUMBER + r" overall=" + NUMBER, line)
        if m:
            result.peak_mem_mb = float(m.group(2))
        m = re.search(r"Overall peak memory footprint \(MB\) via periodic monitoring: " + NUMBER, line)
        if m:
            result.peak_mem_mb = float(m.group(1))
    if summary is None:
        raise ToolOutputError(f"benchmark_model gave no timings: {last_words(lines)}")
    init_us, first_us, _warm_us, avg_us = summary
    result.load_ms = init_us / 1000.0
    result.first_ms = first_us / 1000.0
    result.mean_ms = avg_us / 1000.0
    if stats_lines:
        timed = stats_lines[-1]  # the last phase is the timed one; an earlier one is the warm-up
        result.iterations = int(float(timed["count"]))
        result.std_ms = float(timed["std"]) / 1000.0 if "std" in timed else None
        result.min_ms = float(timed["min"]) / 1000.0 if "min" in timed else None
        result.max_ms = float(timed["max"]) / 1000.0 if "max" in timed else None
        if "median" in timed:  # newer LiteRT builds add p5/median/p95 to the line
            result.p50_ms = float(timed["median"]) / 1000.0
        if len(stats_lines) > 1:
            result.warmup = int(float(stats_lines[-2]["count"]))
    if result.p50_ms is None:
        result.notes.append("benchmark_model reports mean, std, min and max; no percentiles")
    return result


def _command(binary: str, model: str, threads: int, iterations: int, warmup: int) -> str:
    return (f"{binary} --graph={model} --num_threads={threads} --warmup_runs={warmup} --warmup_min_secs=0 "
            f"--num_runs={iterations} --min_secs=0")


DEVICE_TOOL = DeviceTool("benchmark_model", command=_command, parse=lambda text, warmup: parse_benchmark_model(text))
