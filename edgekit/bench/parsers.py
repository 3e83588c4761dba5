"""Read the console output of each runtime's own benchmark tool into one `ToolTiming`.

    parse_benchmark_model(text)          LiteRT / TFLite `benchmark_model`
    parse_executor_runner(text, warmup)  ExecuTorch `executor_runner` (and xnn_executor_runner, same log lines)
    parse_onnxruntime_perf_test(text)    onnxruntime `onnxruntime_perf_test`
    PARSERS                              tool name -> parser

Every figure is what the tool printed, converted to milliseconds; a figure the tool does not print is None
(benchmark_model prints no percentiles, old executor_runner builds only a total). Output without the tool's
result lines raises `ToolOutputError` whose message quotes the tool's last meaningful line (e.g.
"Benchmarking failed."), so a failed run becomes a "failed" row with that reason. The samples the tests
read are real captured output (tests/data/tool_output/, each file names its source).
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

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


_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def _body(text: str) -> list[str]:
    """Lines without logcat prefixes ("I tflite  : ") and without our own '# ' source headers."""
    lines = []
    for raw in text.replace("\r", "").splitlines():
        if raw.startswith("# "):
            continue
        lines.append(re.sub(r"^[VDIWEF] [\w.-]+\s*: ", "", raw))
    return lines


def _last_words(lines: list[str]) -> str:
    meaningful = [ln.strip() for ln in lines if ln.strip()]
    errors = [ln for ln in meaningful if "error" in ln.lower() or "failed" in ln.lower()]
    return (errors[-1] if errors else meaningful[-1] if meaningful else "no output")[:300]


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def parse_benchmark_model(text: str) -> ToolTiming:
    """`benchmark_model` prints a `count=... avg= std=` line per phase (warm-up, then the timed runs) and
    `Inference timings in us: Init: a, First inference: b, Warmup (avg): c, Inference (avg): d`. Times are us."""
    lines = _body(text)
    summary = None
    stats_lines = []
    result = ToolTiming(tool="benchmark_model")
    for line in lines:
        m = re.search(r"Inference timings in us: Init: " + _NUM + r", First inference: " + _NUM
                      + r", Warmup \(avg\): " + _NUM + r", Inference \(avg\): " + _NUM, line)
        if m:
            summary = [float(g) for g in m.groups()]
        stripped = line.strip()
        if stripped.startswith("count=") and "first=" in stripped:
            stats_lines.append(dict(re.findall(r"(\w+)=" + _NUM, stripped)))
        m = re.search(r"Num threads: \[(\d+)\]", line)
        if m:
            result.threads_reported = int(m.group(1))
        m = re.search(r"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): "
                      r"init=" + _NUM + r" overall=" + _NUM, line)
        if m:
            result.peak_mem_mb = float(m.group(2))
        m = re.search(r"Overall peak memory footprint \(MB\) via periodic monitoring: " + _NUM, line)
        if m:
            result.peak_mem_mb = float(m.group(1))
    if summary is None:
        raise ToolOutputError(f"benchmark_model gave no timings: {_last_words(lines)}")
    init_us, first_us, _warm_us, avg_us = summary
    result.load_ms = init_us / 1000.0
    result.first_ms = first_us / 1000.0
    result.mean_ms = avg_us / 1000.0
    if stats_lines:
        timed = stats_lines[-1]  # the last phase is the timed one; an earlier one is the warm-up
        result.iterations = int(float(timed["count"]))
        result.std_ms = float(timed["std"]) / 1000.0 if "std" in timed else None
        result.min_ms = float(timed["min"]) / 1000.0 if "min" in timed else None
        result.max_ms = float(timed["max"]) / 1000.0 if "max" in timed else None
        if "median" in timed:  # newer LiteRT builds add p5/median/p95 to the line
            result.p50_ms = float(timed["median"]) / 1000.0
        if len(stats_lines) > 1:
            result.warmup = int(float(stats_lines[-2]["count"]))
    if result.p50_ms is None:
        result.notes.append("benchmark_model reports mean, std, min and max; no percentiles")
    return result


def parse_executor_runner(text: str, warmup: int = 0) -> ToolTiming:
    """`executor_runner --num_executions N` logs `Iteration i of N: t ms` per run (recent builds), then
    `Model executed successfully N time(s) in T ms.`; `Model loaded in t ms.` when it times loading. The first
    `warmup` iterations are dropped here (the tool has no warm-up flag)."""
    lines = _body(text)
    result = ToolTiming(tool="executor_runner")
    samples: list[float] = []
    total = None
    for line in lines:
        m = re.search(r"Iteration (\d+) of (\d+): " + _NUM + " ms", line)
        if m:
            samples.append(float(m.group(3)))
        m = re.search(r"Model executed successfully (\d+) time\(s\) in " + _NUM + " ms", line)
        if m:
            total = (int(m.group(1)), float(m.group(2)))
        m = re.search(r"Model loaded in " + _NUM + " ms", line)
        if m:
            result.load_ms = float(m.group(1))
        m = re.search(r"(?:Resetting threadpool with num threads =|Resetting threadpool to) (\d+)", line)
        if m:
            result.threads_reported = int(m.group(1))
    if samples:
        result.first_ms = samples[0]
        timed = samples[warmup:] if len(samples) > warmup else []
        if not timed:
            raise ToolOutputError(f"executor_runner ran {len(samples)} time(s), all of them warm-up")
        result.warmup = min(warmup, len(samples))
        result.iterations = len(timed)
        result.mean_ms = statistics.fmean(timed)
        result.std_ms = statistics.stdev(timed) if len(timed) > 1 else 0.0
        result.min_ms, result.max_ms = min(timed), max(timed)
        result.p50_ms = _percentile(timed, 50)
        result.p90_ms = _percentile(timed, 90)
        result.p99_ms = _percentile(timed, 99)
        return result
    if total is not None:
        count, total_ms = total
        result.iterations = count
        result.mean_ms = total_ms / count
        result.warmup = 0
        result.notes.append("this executor_runner prints only the total time: the mean includes the first "
                            "(warm-up) run; no percentiles")
        return result
    if any("Model executed successfully" in ln for ln in lines):
        raise ToolOutputError("this executor_runner build prints no timing (no 'time(s) in ... ms' line): "
                              "build a newer one (ExecuTorch 0.4 or later)")
    raise ToolOutputError(f"executor_runner gave no timings: {_last_words(lines)}")


def _seconds_or_ms(value: str, unit: str) -> float:
    return float(value) * (1.0 if unit.startswith("ms") else 1000.0)


def parse_onnxruntime_perf_test(text: str) -> ToolTiming:
    """`onnxruntime_perf_test -m times -r N` prints session creation, the average, and (1.x builds since 2020)
    `Min/Max/P50/P90/P95/P99/P999 Latency is X sec` (newer: `P50 Latency: X s`). It runs one warm-up itself."""
    lines = _body(text)
    result = ToolTiming(tool="onnxruntime_perf_test", warmup=1)
    for line in lines:
        m = re.search(r"Session creation time cost:\s*" + _NUM + r"\s*(s|ms)", line)
        if m:
            result.load_ms = _seconds_or_ms(m.group(1), m.group(2))
        m = re.search(r"First inference time cost:\s*" + _NUM + r"\s*(ms|s)", line)
        if m:
            result.first_ms = _seconds_or_ms(m.group(1), m.group(2))
        m = re.search(r"(?:Total inference requests|Total iterations):\s*(\d+)", line)
        if m:
            result.iterations = int(m.group(1))
        m = re.search(r"Average (?:inference )?time cost:\s*" + _NUM + r"\s*ms", line)
        if m:
            result.mean_ms = float(m.group(1))
        m = re.search(r"Peak working set size:\s*(\d+) bytes", line)
        if m:
            result.peak_mem_mb = int(m.group(1)) / 2**20
        m = re.search(r"Setting intra_op_num_threads to (\d+)", line)
        if m:
            result.threads_reported = int(m.group(1))
        m = re.search(r"(Min|Max|P50|P90|P99) Latency(?: is|:)\s*" + _NUM + r"\s*(sec|s|ms)\b", line)
        if m:
            value = _seconds_or_ms(m.group(2), m.group(3))
            setattr(result, {"Min": "min_ms", "Max": "max_ms", "P50": "p50_ms", "P90": "p90_ms",
                             "P99": "p99_ms"}[m.group(1)], value)
    if result.mean_ms is None:
        raise ToolOutputError(f"onnxruntime_perf_test gave no timings: {_last_words(lines)}")
    if result.p50_ms is None:
        result.notes.append("this onnxruntime_perf_test prints no percentiles (mean only)")
    return result


PARSERS = {
    "benchmark_model": parse_benchmark_model,
    "executor_runner": parse_executor_runner,
    "onnxruntime_perf_test": parse_onnxruntime_perf_test,
}
