"""The ExecuTorch runtime (Python bindings; XNNPACK-delegated `.pte` programs), method "forward".

Threads: the process-wide threadpool XNNPACK uses, resized with
executorch.extension.pybindings.portable_lib._unsafe_reset_threadpool(n) (it otherwise sizes itself to every
core and ignores torch.set_num_threads). The runtime reads a non-contiguous input tensor's memory as if it were
contiguous, silently: every input is made contiguous first.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.runtime import Runtime, TensorSpec, Timer, image_layout, package_version

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
