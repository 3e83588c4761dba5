"""LiteRT (ai-edge-litert's Interpreter, its default XNNPACK delegate) for `.tflite` artifacts.

Threads: Interpreter(num_threads=n). litert-torch's int8 artifacts take and give int8 tensors (even without
--int8-io): the base class quantizes the input with its scale and zero point and dequantizes the output. The
layout is the interpreter's own (NHWC for litert-torch), read off the input's shape.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.runtime import Runtime, TensorSpec, Timer, image_layout, package_version


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
