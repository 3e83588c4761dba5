"""Timing sessions: one artifact (or the eager baseline) loaded in its own runtime with the thread count
enforced by that runtime's own setting, and an input prepared once.

Each session is built inside a fresh worker process (edgekit.bench.worker), so a runtime's global
threadpool never leaks between artifacts and peak RSS is the artifact's own. How threads are set:

    torch (eager, TorchScript)  torch.set_num_threads(n); torch.set_num_interop_threads(1)
    onnxruntime                 SessionOptions.intra_op_num_threads = n, inter_op_num_threads = 1, sequential
    ai-edge-litert              Interpreter(num_threads=n): the interpreter and its default XNNPACK delegate
    executorch                  the process-wide threadpool XNNPACK uses, resized with
                                executorch.extension.pybindings.portable_lib._unsafe_reset_threadpool(n)
                                (it otherwise sizes itself to every core and ignores torch.set_num_threads)

`run()` is the timed call: exactly what an app does per frame with a ready tensor (set the input,
invoke, read the output), nothing else.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

import numpy as np

INPUT_SEED = 0


class SessionError(Exception):
    """A runtime could not be set up as asked (the row becomes failed with this reason)."""


@dataclass
class Session:
    run: Callable[[], object]  # one inference on the prepared input
    runtime: str
    runtime_version: str | None
    delegate: str | None
    threads_setting: str  # how the thread count was set, for the row's extra
    load_ms: float


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def example_input(shape: list[int]) -> np.ndarray:
    """A seeded normalised-image-like float32 input (standard normal), contiguous."""
    return np.ascontiguousarray(np.random.default_rng(INPUT_SEED).standard_normal(shape).astype(np.float32))


def _torch_threads(threads: int) -> str:
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process (only possible outside a fresh worker)
        pass
    return f"torch.set_num_threads({threads}), set_num_interop_threads(1)"


def eager_session(model_name: str, num_classes: int, shape: list[int], threads: int,
                  checkpoint: str | None = None) -> Session:
    """PyTorch eager fp32: the baseline. The checkpoint's architecture (options) when it is there,
    else create_model with random weights (latency does not depend on the weights' values)."""
    import torch

    setting = _torch_threads(threads)
    started = time.perf_counter()
    if checkpoint and Path(checkpoint).is_file():
        from edgekit.checkpoint import load_checkpoint

        model = load_checkpoint(checkpoint).build_model()
    else:
        from edgekit.models import create_model

        model = create_model(model_name, num_classes=num_classes)
    model = model.eval()
    load_ms = (time.perf_counter() - started) * 1000
    x = torch.from_numpy(example_input(shape))

    def run():
        with torch.inference_mode():
            return model(x)

    return Session(run, "torch", torch.__version__, None, setting, load_ms)


def torchscript_session(path: Path, shape: list[int], threads: int) -> Session:
    import torch

    setting = _torch_threads(threads)
    started = time.perf_counter()
    module = torch.jit.load(str(path), map_location="cpu").eval()
    load_ms = (time.perf_counter() - started) * 1000
    x = torch.from_numpy(example_input(shape))

    def run():
        with torch.inference_mode():
            return module(x)

    return Session(run, "torch.jit", torch.__version__, None, setting, load_ms)


def onnx_session(path: Path, shape: list[int], threads: int) -> Session:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    started = time.perf_counter()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - started) * 1000
    name = session.get_inputs()[0].name
    feed = {name: example_input(shape)}
    return Session(lambda: session.run(None, feed), "onnxruntime", onnxruntime.__version__, "CPUExecutionProvider",
                   f"SessionOptions.intra_op_num_threads={threads}, inter_op_num_threads=1, sequential", load_ms)


def tflite_session(path: Path, manifest: dict, threads: int) -> Session:
    from ai_edge_litert.interpreter import Interpreter

    started = time.perf_counter()
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    load_ms = (time.perf_counter() - started) * 1000
    details = interpreter.get_input_details()[0]
    output_index = interpreter.get_output_details()[0]["index"]
    shape = [int(d) for d in details["shape"]]  # the interpreter's own layout (NHWC for litert-torch)
    x = _quantize(example_input(shape), details)  # int8 inputs use the tensor's scale / zero point
    index = details["index"]

    def run():
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    return Session(run, "ai-edge-litert", _version("ai-edge-litert"), "XNNPACK (default delegate)",
                   f"Interpreter(num_threads={threads})", load_ms)


def _quantize(values: np.ndarray, details: dict) -> np.ndarray:
    """edgekit.export.tflite.quantize, repeated here: importing edgekit.export would load torch into the
    LiteRT worker and inflate its peak RSS by torch's few hundred MB."""
    dtype = np.dtype(details["dtype"])
    if dtype.kind == "f":
        return np.ascontiguousarray(values, dtype=dtype)
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)


def executorch_session(path: Path, shape: list[int], threads: int, reset_threadpool: bool = True) -> Session:
    import torch
    from executorch.runtime import Runtime

    setting = "none: the threadpool's default size (every core)"
    if reset_threadpool:
        from executorch.extension.pybindings.portable_lib import _threadpool_get_thread_count, _unsafe_reset_threadpool

        _unsafe_reset_threadpool(threads)
        got = _threadpool_get_thread_count()
        if got != threads:
            raise SessionError(f"the ExecuTorch threadpool has {got} threads after asking for {threads}")
        setting = f"portable_lib._unsafe_reset_threadpool({threads})"
    started = time.perf_counter()
    method = Runtime.get().load_program(str(path)).load_method("forward")
    load_ms = (time.perf_counter() - started) * 1000
    inputs = [torch.from_numpy(example_input(shape))]  # contiguous: the runtime misreads strided tensors
    delegation = None
    return Session(lambda: method.execute(inputs), "executorch", _version("executorch"), delegation or "XNNPACK",
                   setting, load_ms)


def open_session(spec: dict) -> Session:
    """spec (plain data, picklable): kind "eager" or a format name, threads, and the artifact's facts."""
    threads = int(spec["threads"])
    kind = spec["kind"]
    if kind == "eager":
        return eager_session(spec["model"], spec["num_classes"], spec["shape"], threads, spec.get("checkpoint"))
    path = Path(spec["path"])
    if kind == "torchscript":
        return torchscript_session(path, spec["shape"], threads)
    if kind == "onnx":
        return onnx_session(path, spec["shape"], threads)
    if kind == "tflite":
        return tflite_session(path, spec["manifest"], threads)
    if kind == "executorch":
        return executorch_session(path, spec["shape"], threads, spec.get("reset_threadpool", True))
    raise SessionError(f"no timing session for format '{kind}' on this host")


TIMED_FORMATS = ("torchscript", "onnx", "tflite", "executorch")  # what this host can time; others: not run here
