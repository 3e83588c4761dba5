"""Timing sessions: one artifact (or the eager baseline) loaded in its own runtime with the thread count
enforced by that runtime's own setting (edgekit.runtime), and an input prepared once.

Each session is built inside a fresh worker process (edgekit.bench.worker), so a runtime's global threadpool
never leaks between artifacts and peak RSS is the artifact's own. `run()` is the timed call: exactly what an
app does per frame with a ready tensor (set the input, invoke, read the output), nothing else. How each runtime
sets its threads is written in its module (edgekit/runtime/<format>.py) and recorded in every row.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

INPUT_SEED = 0
EAGER = "eager"


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
    values: Callable[[object], np.ndarray] = np.asarray  # run()'s result -> float values (dequantized)


def example_input(shape: list[int]) -> np.ndarray:
    """A seeded normalised-image-like float32 input (standard normal), contiguous."""
    return np.ascontiguousarray(np.random.default_rng(INPUT_SEED).standard_normal(shape).astype(np.float32))


def eager_session(spec: dict, threads: int | None) -> Session:
    """PyTorch eager fp32: the baseline. The model the artifacts came from (the checkpoint, when it is still
    there) else the architecture with random weights (latency does not depend on the weights' values)."""
    import torch

    from edgekit.bench.baseline import build_baseline
    from edgekit.runtime.torchscript import torch_threads

    setting = torch_threads(threads)
    started = time.perf_counter()  # after the imports: load_ms is building the model, as for the artifacts
    model = build_baseline(spec).eval()
    load_ms = (time.perf_counter() - started) * 1000
    x = torch.from_numpy(example_input(spec["shape"]))

    def run():
        with torch.inference_mode():
            return model(x)

    return Session(run, "torch", torch.__version__, None, setting, load_ms, lambda out: out.numpy())


def artifact_session(kind: str, path: Path, threads: int | None, shape: list[int]) -> Session:
    """An artifact in its own runtime; the input is the seeded example in the artifact's own dtype and layout.
    `shape` is the manifest's static input shape (NCHW), for runtimes that do not declare one (TorchScript)."""
    from edgekit.runtime import open_runtime

    runtime = open_runtime(kind, path, threads=threads)
    prepared = runtime.prepare(runtime.to_input(example_input(shape)))  # int8 inputs use the tensor's scale
    invoke = runtime.invoke
    return Session(lambda: invoke(prepared), runtime.runtime, runtime.runtime_version, runtime.delegate,
                   runtime.threads_setting, runtime.load_ms, runtime.to_logits)


def open_session(spec: dict) -> Session:
    """spec (plain JSON): kind "eager" or a format name, threads, the artifact's path or the baseline's model;
    enforce_threads False leaves the runtime's default threading, to show that the CPU-time check catches it."""
    threads = int(spec["threads"]) if spec.get("enforce_threads", True) else None
    if spec["kind"] == EAGER:
        return eager_session(spec, threads)
    return artifact_session(spec["kind"], Path(spec["path"]), threads, spec["shape"])
