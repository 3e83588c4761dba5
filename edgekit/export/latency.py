"""Latency-aware int8 (`--latency-target host`): the int8 artifact timed against the same format's fp32 artifact on
the target, and the layers whose ops are slower in int8 there, for export's int8 plan (edgekit.export.int8_plan's
`plan_latency` decides; this module measures).

    time_pair(format, fp32, int8, shape)   (fp32 ms, int8 ms): medians of interleaved rounds in this process (the
                                           order alternates each round; threads pinned as bench pins them through
                                           edgekit.runtime), on one seeded input; bench's own rows come later
    slower_layers(format, fp32, int8, shape)
                                           [(module, fp32 ms, int8 ms)] for the PyTorch modules whose ops take
                                           longer in int8 than in fp32, most extra time first, from the runtime's
                                           own per-op profiler mapped to modules (ONNX Runtime's profiler and the
                                           graph's names: edgekit.runtime.onnx_profile); None where the runtime
                                           gives no per-layer times (LiteRT's Python interpreter has no profiler;
                                           ExecuTorch's ETDump names XNNPACK operators, not modules, without an
                                           ETRecord)
    module_times(...)                      every module's (fp32 ms, int8 ms): with a target, the accuracy repair's
                                           float layers are ranked by int8 damage per ms of float there
                                           (edgekit.export.int8_context.Int8Context.ranking_per_ms)

Only the host is a target here: a phone over adb is not built (its timings would come from `edgekit bench --adb`).
"""
from __future__ import annotations

import collections
import statistics
import time
from pathlib import Path
from typing import Sequence

import numpy as np

TARGETS = ("host",)
THREADS = 1
ROUNDS = 6
RUNS = 15  # timed calls per artifact per round
WARMUP = 5
PROFILE_RUNS = 20


def _input(shape: Sequence[int]) -> np.ndarray:
    return np.random.default_rng(0).random([int(d) for d in shape], dtype=np.float32)


def time_pair(format_name: str, fp32: Path, int8: Path, shape: Sequence[int], threads: int = THREADS,
              rounds: int = ROUNDS, runs: int = RUNS) -> tuple[float, float]:
    """(fp32 median ms, int8 median ms) over interleaved rounds of `runs` timed calls each."""
    from edgekit.runtime import open_runtime

    image = _input(shape)
    sessions = []
    for path in (fp32, int8):
        runtime = open_runtime(format_name, path, threads=threads)
        prepared = runtime.prepare(np.ascontiguousarray(runtime.to_input(image)))
        for _ in range(WARMUP):
            runtime.invoke(prepared)
        sessions.append((runtime, prepared))
    seconds: list[list[float]] = [[], []]
    for round_number in range(rounds):
        order = (0, 1) if round_number % 2 == 0 else (1, 0)
        for index in order:
            runtime, prepared = sessions[index]
            for _ in range(runs):
                started = time.perf_counter()
                runtime.invoke(prepared)
                seconds[index].append(time.perf_counter() - started)
    return statistics.median(seconds[0]) * 1000.0, statistics.median(seconds[1]) * 1000.0


def module_times(format_name: str, fp32: Path, int8: Path, shape: Sequence[int],
                 threads: int = THREADS) -> list[tuple[str, float, float]] | None:
    """[(module, fp32 ms, int8 ms)] for every PyTorch module both profiles name (None: no per-layer times)."""
    if format_name != "onnx":
        return None
    from edgekit.runtime.onnx_profile import OnnxModules, node_times

    image = _input(shape)
    per_module = []
    for path in (fp32, int8):
        nodes, _ = node_times(path, image, threads, PROFILE_RUNS, WARMUP)
        modules, sums = OnnxModules(path), collections.defaultdict(float)
        for node, (_, ms) in nodes.items():
            module = modules.module(node)
            if module:
                sums[module] += ms
        per_module.append(sums)
    float_ms, int8_ms = per_module
    return [(module, float_ms[module], ms) for module, ms in int8_ms.items() if module in float_ms]


def slower_layers(format_name: str, fp32: Path, int8: Path, shape: Sequence[int],
                  threads: int = THREADS) -> list[tuple[str, float, float]] | None:
    rows = module_times(format_name, fp32, int8, shape, threads)
    if rows is None:
        return None
    return sorted([row for row in rows if row[2] > row[1]], key=lambda row: row[1] - row[2])
