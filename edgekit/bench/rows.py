"""The bench row: one (artifact, device, thread count) measurement.

This is the one contract between `edgekit bench` (host), the adb path (a runtime's own benchmark tool on
a phone), the Android app's benchmark mode (android_demo writes the same JSON fields), `bench.json` /
`bench.csv`, `--compare` and `edgekit report`. Times are milliseconds; a field a source cannot measure
is None, never a guess. A row that did not run has `status` "skipped" (or "failed") and a `reason`,
and no timings.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields

from edgekit import contracts
from edgekit.errors import EdgekitError

BENCH_SCHEMA = contracts.BENCH


@dataclass
class BenchRow:
    model: str                       # registry name, e.g. mobilenet_v2
    format: str                      # "pytorch" (the eager baseline), torchscript, onnx, tflite, executorch, coreml
    precision: str                   # fp32, fp16, int8
    threads: int                     # the thread count asked for, enforced in the runtime
    device: str                      # "host" or "adb:<serial>"
    runtime: str                     # e.g. "onnxruntime", "ai-edge-litert", "executorch", "torch", "benchmark_model"
    status: str = "ok"               # ok, skipped, failed
    reason: str | None = None        # why skipped or failed; notes for ok rows
    artifact: str | None = None      # the artifact folder, relative to the export folder; None for the eager baseline
    runtime_version: str | None = None
    delegate: str | None = None      # e.g. "XNNPACK"
    device_name: str | None = None   # the CPU model on the host; the phone model (and ABI, Android version) over adb
    size_bytes: int | None = None
    load_ms: float | None = None
    first_ms: float | None = None    # the first inference, not counted in the statistics
    warmup: int | None = None        # discarded warm-up iterations
    iterations: int | None = None    # timed iterations
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    throughput_ips: float | None = None   # images per second at batch 1 (1000 / mean_ms)
    peak_rss_mb: float | None = None
    cpu_per_wall: float | None = None     # CPU time / wall time over the timed loop: the thread check
    speedup: float | None = None          # eager fp32 p50 / this p50, same device and threads
    wide_spread: bool | None = None       # p90/p50 or the rounds' spread is wide: the figure is unreliable
    top1: float | None = None             # accuracy in this runtime on a labelled folder, percent
    top1_ci: list[float] | None = None    # 95 % interval, percent
    accuracy_images: int | None = None
    post_p50_ms: float | None = None      # detectors: median ms of the NMS outside the graph (edgekit.detection_post), per image, not in p50_ms
    map: float | None = None              # detectors: COCO mAP@[.5:.95] in this runtime on a labelled folder, points (0-100)
    source: str = "edgekit bench"         # what measured it: edgekit bench, benchmark_model, executor_runner, onnxruntime_perf_test, android_demo
    extra: dict = field(default_factory=dict)  # source-specific facts (governor, thermal state, tool command line)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "a bench row") -> "BenchRow":
        """A row read back from bench.json or a phone: every field's type checked (bench.json travels: a
        colleague's, a CI cache's), one EdgekitError naming `where` and the field otherwise. Unknown keys are
        ignored (a newer edgekit's fields)."""
        problem = row_problem(data)
        if problem:
            raise EdgekitError(f"{where}: {problem}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def key(self) -> tuple:
        """What identifies a row across runs (for --compare)."""
        return (self.model, self.format, self.precision, self.threads, self.device)


ROW_FIELDS = [f.name for f in fields(BenchRow)]


STATUSES = ("ok", "skipped", "failed")
_TEXT = ("model", "format", "precision", "device", "runtime", "status", "source")
_OPTIONAL_TEXT = ("reason", "artifact", "runtime_version", "delegate", "device_name")
_OPTIONAL_COUNTS = ("size_bytes", "warmup", "iterations", "accuracy_images")
_OPTIONAL_NUMBERS = ("load_ms", "first_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms",
                     "throughput_ips", "peak_rss_mb", "cpu_per_wall", "speedup", "top1", "post_p50_ms", "map")


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _count(value, minimum: int = 0) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def row_problem(data) -> str | None:
    """What is wrong with a bench row read from a file, in a few words; None when nothing."""
    if not isinstance(data, dict):
        return f"must be an object, got {type(data).__name__}"
    missing = [name for name in ("model", "format", "precision", "threads", "device", "runtime") if name not in data]
    if missing:
        return f"lacks {', '.join(missing)}"
    for name in _TEXT:
        if name in data and not isinstance(data[name], str):
            return f"'{name}' must be a string, got {data[name]!r}"[:200]
    if data.get("status", "ok") not in STATUSES:
        return f"'status' must be one of {', '.join(STATUSES)}, got {data['status']!r}"[:200]
    if not _count(data["threads"], 1):
        return f"'threads' must be a positive integer, got {data['threads']!r}"[:200]
    for name in _OPTIONAL_TEXT:
        if data.get(name) is not None and not isinstance(data[name], str):
            return f"'{name}' must be a string or null, got {data[name]!r}"[:200]
    for name in _OPTIONAL_COUNTS:
        if data.get(name) is not None and not _count(data[name]):
            return f"'{name}' must be a non-negative integer or null, got {data[name]!r}"[:200]
    for name in _OPTIONAL_NUMBERS:
        if data.get(name) is not None and not _number(data[name]):
            return f"'{name}' must be a non-negative finite number or null, got {data[name]!r}"[:200]
    for name in ("top1", "map"):
        if data.get(name) is not None and data[name] > 100:
            return f"'{name}' is a percentage, got {data[name]!r}"
    if data.get("wide_spread") is not None and not isinstance(data["wide_spread"], bool):
        return f"'wide_spread' must be true, false or null, got {data['wide_spread']!r}"[:200]
    ci = data.get("top1_ci")
    if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(_number(v) for v in ci)):
        return f"'top1_ci' must be two numbers or null, got {ci!r}"[:200]
    if data.get("extra") is not None and not isinstance(data["extra"], dict):
        return f"'extra' must be an object, got {data['extra']!r}"[:200]
    return None
