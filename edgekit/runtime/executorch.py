"""The ExecuTorch runtime (Python bindings; XNNPACK-delegated `.pte` programs), method "forward".

Threads: the process-wide threadpool XNNPACK uses, resized with
executorch.extension.pybindings.portable_lib._unsafe_reset_threadpool(n) (it otherwise sizes itself to every
core and ignores torch.set_num_threads). The runtime reads a non-contiguous input tensor's memory as if it were
contiguous, silently: every input is made contiguous first.
"""
from __future__ import annotations

import re
import statistics
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.runtime import Runtime, TensorSpec, Timer, image_layout, package_version
from edgekit.runtime.device_tool import (NUMBER, DeviceTool, ToolOutputError, ToolTiming, body_lines, last_words,
                                         percentile)

SCALAR_TYPES = {6: "float32", 5: "float16", 1: "int8", 0: "uint8"}  # ExecuTorch ScalarType codes


def runs_here() -> tuple[bool, str]:
    import importlib.util

    if importlib.util.find_spec("executorch") is None:
        return False, "the ExecuTorch runtime (executorch) is not installed here"
    return True, ""


def _spec(meta, name: str) -> TensorSpec:
    shape = tuple(int(d) for d in meta.sizes())
    dtype = SCALAR_TYPES.get(int(meta.dtype()), str(meta.dtype()))
    return TensorSpec(name, shape, dtype, image_layout(shape))


class ExecuTorchRuntime(Runtime):
    format = "executorch"
    runtime = "executorch"
    delegate = "XNNPACK"

    def __init__(self, path: Path, threads: int | None = None):
        from executorch.runtime import Runtime as EtRuntime

        if threads is not None:
            from executorch.extension.pybindings.portable_lib import (_threadpool_get_thread_count,
                                                                      _unsafe_reset_threadpool)

            _unsafe_reset_threadpool(threads)
            got = _threadpool_get_thread_count()
            if got != threads:
                raise EdgekitError(f"the ExecuTorch threadpool has {got} threads after asking for {threads}")
            self.threads_setting = f"portable_lib._unsafe_reset_threadpool({threads})"
        else:
            self.threads_setting = "none: the threadpool's default size (every core)"
        with Timer() as timer:
            self.method = EtRuntime.get().load_program(str(path)).load_method("forward")
        self.load_ms = timer.ms
        self.runtime_version = package_version("executorch")
        meta = self.method.metadata
        if meta.num_inputs() != 1 or meta.num_outputs() < 1:
            raise EdgekitError(f"{path}: forward takes {meta.num_inputs()} inputs and gives {meta.num_outputs()} "
                               "outputs; an image classifier takes one image and gives logits")
        super().__init__(path, _spec(meta.input_tensor_meta(0), "input"), _spec(meta.output_tensor_meta(0), "logits"))

    def prepare(self, tensor: np.ndarray):
        import torch

        return [torch.from_numpy(np.ascontiguousarray(tensor))]

    def invoke(self, prepared) -> np.ndarray:
        return self.method.execute(prepared)[0].numpy()


def load(path: Path, threads: int | None = None) -> ExecuTorchRuntime:
    return ExecuTorchRuntime(path, threads)


# ----------------------------------------------------------------------------- the on-device tool

def parse_executor_runner(text: str, warmup: int = 0) -> ToolTiming:
    """`executor_runner --num_executions N` logs `Iteration i of N: t ms` per run (recent builds), then
    `Model executed successfully N time(s) in T ms.`; `Model loaded in t ms.` when it times loading. The first
    `warmup` iterations are dropped here (the tool has no warm-up flag)."""
    lines = body_lines(text)
    result = ToolTiming(tool="executor_runner")
    samples: list[float] = []
    total = None
    for line in lines:
        m = re.search(r"Iteration (\d+) of (\d+): " + NUMBER + " ms", line)
        if m:
            samples.append(float(m.group(3)))
        m = re.search(r"Model executed successfully (\d+) time\(s\) in " + NUMBER + " ms", line)
        if m:
            total = (int(m.group(1)), float(m.group(2)))
        m = re.search(r"Model loaded in " + NUMBER + " ms", line)
        if m:
            result.load_ms = float(m.group(1))
        m = re.search(r"(?:Resetting threadpool with num threads =|Resetting threadpool to) (\d+)", line)
        if m:
            result.threads_reported = int(m.group(1))
    if samples:
        result.first_ms = samples[0]
        timed = samples[warmup:] if len(samples) > warmup else []
        if not timed:
            raise ToolOutputError(f"executor_runner ran {len(samples)} time(s), all of them warm-up")
        result.warmup = min(warmup, len(samples))
        result.iterations = len(timed)
        result.mean_ms = statistics.fmean(timed)
        result.std_ms = statistics.stdev(timed) if len(timed) > 1 else 0.0
        result.min_ms, result.max_ms = min(timed), max(timed)
        result.p50_ms = percentile(timed, 50)
        result.p90_ms = percentile(timed, 90)
        result.p99_ms = percentile(timed, 99)
        return result
    if total is not None:
        count, total_ms = total
        result.iterations = count
        result.mean_ms = total_ms / count
        result.warmup = 0
        result.notes.append("this executor_runner prints only the total time: the mean includes the first "
                            "(warm-up) run; no percentiles")
        return result
    if any("Model executed successfully" in ln for ln in lines):
        raise ToolOutputError("this executor_runner build prints no timing (no 'time(s) in ... ms' line): "
                              "build a newer one (ExecuTorch 0.4 or later)")
    raise ToolOutputError(f"executor_runner gave no timings: {last_words(lines)}")


def _command(binary: str, model: str, threads: int, iterations: int, warmup: int) -> str:
    return f"{binary} --model_path={model} --cpu_threads={threads} --num_executions={warmup + iterations}"


DEVICE_TOOL = DeviceTool("executor_runner", command=_command, parse=parse_executor_runner)
