"""Core ML (coremltools' MLModel) for `.mlpackage` artifacts: only on Apple platforms.

Off macOS the package is checked structurally at export (spec, input/output names and shapes), never run;
`runs_here()` says why.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edgekit.runtime import Runtime, TensorSpec, Timer, package_version

NOT_HERE = "Core ML runs only on Apple platforms"
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def runs_here() -> tuple[bool, str]:
    return (True, "") if sys.platform == "darwin" else (False, NOT_HERE)


class CoreMLRuntime(Runtime):
    format = "coreml"
    runtime = "coremltools"
    threads_setting = "none: Core ML schedules its own compute units"

    def __init__(self, path: Path, threads: int | None = None):
        import coremltools as ct

        with Timer() as timer:
            self.model = ct.models.MLModel(str(path))
        self.load_ms = timer.ms
        self.runtime_version = package_version("coremltools")
        spec = self.model.get_spec()
        inputs = [(f.name, tuple(int(d) for d in f.type.multiArrayType.shape)) for f in spec.description.input]
        outputs = [(f.name, tuple(int(d) for d in f.type.multiArrayType.shape)) for f in spec.description.output]
        super().__init__(path, TensorSpec(inputs[0][0], inputs[0][1], "float32", "NCHW"),
                         TensorSpec(outputs[0][0], outputs[0][1], "float32"))

    def prepare(self, tensor: np.ndarray):
        return {self.input.name: tensor}

    def invoke(self, prepared) -> np.ndarray:
        return np.asarray(self.model.predict(prepared)[self.output.name])


def load(path: Path, threads: int | None = None) -> CoreMLRuntime:
    return CoreMLRuntime(path, threads)
