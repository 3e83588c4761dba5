"""What each runtime's own on-device benchmark tool is: its command line and the reader of its console output.

Each runtime file (edgekit/runtime/<format>.py) names its tool as `DEVICE_TOOL`, reached from the format's row
(`edgekit.formats.FORMATS[name].tool()`); `edgekit bench --device adb` runs it:

    tflite      benchmark_model --graph=M --num_threads=T --warmup_runs=W --warmup_min_secs=0 --num_runs=N --min_secs=0
    executorch  executor_runner --model_path=M --cpu_threads=T --num_executions=W+N   (the first W runs are dropped)
    onnx        onnxruntime_perf_test -I -m times -r N -x T -e cpu M                  (the tool's own single warm-up)

Every figure is what the tool printed, converted to milliseconds; a figure the tool does not print is None
(benchmark_model prints no percentiles, old executor_runner builds only a total). Output without the tool's
result lines raises `ToolOutputError` whose message quotes the tool's last meaningful line (e.g.
"Benchmarking failed."), so a failed run becomes a "failed" row with that reason. The samples the tests
read are real captured output (tests/data/tool_output/, each file names its source). Torch-free.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from edgekit.errors import EdgekitError


class ToolOutputError(EdgekitError):
    """The tool ran but its output holds no result (it failed, or it is not the tool we think)."""


@dataclass
class ToolTiming:
    tool: str
    iterations: int | None = None       # timed runs the statistics cover
    warmup: int | None = None           # warm-up runs the tool discarded (None: unknown)
    load_ms: float | None = None
    first_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    peak_mem_mb: float | None = None
    threads_reported: int | None = None  # the thread count the tool says it used, where it says so
    notes: list[str] = field(default_factory=list)


NUMBER = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def body_lines(text: str) -> list[str]:
    """Lines without logcat prefixes ("I tflite  : ") and without our own '# ' source headers."""
    lines = []
    for raw in text.replace("\r", "").splitlines():
        if raw.startswith("# "):
            continue
        lines.append(re.sub(r"^[VDIWEF] [\w.-]+\s*: ", "", raw))
    return lines


def last_words(lines: list[str]) -> str:
    meaningful = [ln.strip() for ln in lines if ln.strip()]
    errors = [ln for ln in meaningful if "error" in ln.lower() or "failed" in ln.lower()]
    return (errors[-1] if errors else meaningful[-1] if meaningful else "no output")[:300]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def seconds_or_ms(value: str, unit: str) -> float:
    return float(value) * (1.0 if unit.startswith("ms") else 1000.0)


@dataclass(frozen=True)
class DeviceTool:
    """A runtime's own benchmark binary: `command(binary, model, threads, iterations, warmup)` is its shell line,
    `parse(text, warmup)` reads what it printed; `own_warmup` is the warm-up count it fixes itself (None: ours)."""
    name: str
    command: Callable[[str, str, int, int, int], str]
    parse: Callable[[str, int], ToolTiming]
    own_warmup: int | None = None
