"""TorchScript (`torch.jit.load`) for `.pt` artifacts, on the CPU.

Threads: torch.set_num_threads(n) and set_num_interop_threads(1), process-wide. Traces of edgekit's models
keep the batch size symbolic: a whole batch runs at once, one image at a time where a graph baked in batch 1.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.runtime import Runtime, TensorSpec, Timer


def runs_here() -> tuple[bool, str]:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False, "torch is not installed here"
    return True, ""


def torch_threads(threads: int | None) -> str:
    """Set torch's intra-op threads (and one inter-op thread) for this process; the setting in words."""
    if threads is None:
        return "none: torch's default (one thread per core)"
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process (only possible outside a fresh worker)
        pass
    return f"torch.set_num_threads({threads}), set_num_interop_threads(1)"


class TorchScriptRuntime(Runtime):
    format = "torchscript"
    runtime = "torch.jit"

    def __init__(self, path: Path, threads: int | None = None, input_shape: tuple | None = None):
        import torch

        self.threads_setting = torch_threads(threads)
        with Timer() as timer:
            self.module = torch.jit.load(str(path), map_location="cpu").eval()
        self.load_ms = timer.ms
        self.runtime_version = torch.__version__
        shape = tuple(input_shape) if input_shape else (None, 3, None, None)
        super().__init__(path, TensorSpec("input", shape, "float32", "NCHW"),
                         TensorSpec("logits", (None, None), "float32"))
        self.batch_free = True

    def prepare(self, tensor: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(tensor, dtype=np.float32))

    def invoke(self, prepared) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.module(prepared).numpy()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        try:
            return super().__call__(images)
        except RuntimeError:  # a graph that baked in batch 1
            self.batch_free = False
            return super().__call__(images)


def load(path: Path, threads: int | None = None) -> TorchScriptRuntime:
    return TorchScriptRuntime(path, threads)
