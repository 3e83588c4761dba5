"""ONNX Runtime (CPU execution provider) for `.onnx` artifacts.

Threads: SessionOptions.intra_op_num_threads = n, inter_op_num_threads = 1, sequential execution. Integer
inputs (an int8 QDQ graph keeps float input and output) are quantized by the base class when declared.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.runtime import Runtime, TensorSpec, Timer, image_layout

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
