"""The bench row: one (artifact, device, thread count) measurement.

This is the one contract between `edgekit bench` (host), the adb path (a runtime's own benchmark tool on
a phone), the Android app's benchmark mode (android_demo writes the same JSON fields), `bench.json` /
`bench.csv`, `--compare` and `edgekit report`. Times are milliseconds; a field a source cannot measure
is None, never a guess. A row that did not run has `status` "skipped" (or "failed") and a `reason`,
and no timings.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from edgekit import contracts

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
    source: str = "edgekit bench"         # what measured it: edgekit bench, benchmark_model, executor_runner, onnxruntime_perf_test, android_demo
    extra: dict = field(default_factory=dict)  # source-specific facts (governor, thermal state, tool command line)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BenchRow":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def key(self) -> tuple:
        """What identifies a row across runs (for --compare)."""
        return (self.model, self.format, self.precision, self.threads, self.device)


ROW_FIELDS = [f.name for f in fields(BenchRow)]
