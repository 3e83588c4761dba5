"""`edgekit bench` on this host: every artifact in its own runtime, against PyTorch eager fp32.

For each thread count, one worker process per artifact plus one for the eager baseline of each model
(edgekit.bench.worker) is started and warmed up one after the other; then the timed iterations run
in rounds: each round gives every worker one block of iterations, in a fresh seeded random order, so
machine drift (other processes, thermal state, frequency) spreads over all rows alike. Only one
worker runs at a time. Each block's CPU time over wall time checks that the runtime honoured the
thread count: a row that used more than `threads + THREAD_SLACK` cores is "failed", never a timing;
one below STARVED waited for a core (a busy machine) and is flagged, like a wide spread, as unreliable.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgekit.artifacts import Artifact
from edgekit.bench.rows import BenchRow
from edgekit.bench.baseline import baseline_spec, nchw_shape
from edgekit.errors import EdgekitError

THREAD_SLACK = 0.3  # CPU time / wall time may exceed the thread count by this much (Python, timers)
WIDE_P90_OVER_P50 = 1.5  # p90 / p50 above this: a wide distribution
WIDE_ROUNDS = 1.3  # slowest round's median / fastest round's median above this: drift during the run
MIN_CHECKED_WALL_S = 0.05  # a timed loop shorter than this cannot judge thread use: a stray ms of another thread's
# CPU time (session set-up, the runtime's housekeeping) is a large fraction of it
STARVED = 0.8  # CPU time / wall time below this: the worker waited for a core (other processes ran)
PILOT_ITERATIONS = 3  # with --seconds: a short block to size the rounds (discarded)


@dataclass
class BenchOptions:
    threads: list[int]
    iterations: int | None = 50  # timed iterations per row (None: use `seconds`)
    seconds: float | None = None  # timed seconds per row (approximately)
    warmup: int = 10  # discarded iterations after the first inference
    rounds: int = 5
    seed: int = 0
    host_name: str | None = None  # the CPU model, for device_name


def parse_threads(text: str, cores: int | None = None) -> list[int]:
    """'1,2' or '1,all' -> [1, 2]; 'all' is every core of this host. One clear error for anything else."""
    cores = cores or os.cpu_count() or 1
    values = []
    for part in str(text).split(","):
        part = part.strip().lower()
        if part == "all":
            values.append(cores)
            continue
        try:
            value = int(part)
        except ValueError:
            raise EdgekitError(f"--threads expects comma-separated positive integers or 'all', got '{text}'") from None
        if value < 1:
            raise EdgekitError(f"--threads values must be at least 1, got {value}")
        values.append(value)
    return list(dict.fromkeys(values))


class Worker:
    """A worker process (edgekit/bench/worker.py run as a script) and the row it will fill."""

    def __init__(self, row: BenchRow, spec: dict):
        self.row, self.spec = row, spec
        self.times: list[float] = []
        self.round_medians: list[float] = []
        self.cpu_s = self.wall_s = 0.0
        self.ready: dict = {}
        self.process: subprocess.Popen | None = None
        self.stderr = tempfile.TemporaryFile()

    def start(self, warmup: int) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("worker.py"))], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        reply = self.ask({"spec": self.spec, "warmup": warmup})
        if "error" in reply:
            raise RuntimeError(reply["error"])
        self.ready = reply["ready"]

    def ask(self, message: dict) -> dict:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            self.stderr.seek(0)
            tail = [l for l in self.stderr.read().decode("utf-8", "replace").splitlines() if l.strip()][-1:]
            raise RuntimeError(f"the worker exited with code {code}" + (f": {tail[0][:200]}" if tail else ""))
        return json.loads(line)

    def run_block(self, iterations: int) -> None:
        reply = self.ask({"run": iterations})
        self.times.extend(reply["times_ms"])
        self.round_medians.append(float(np.median(reply["times_ms"])))
        self.cpu_s += reply["cpu_s"]
        self.wall_s += reply["wall_s"]

    def stop(self) -> float | None:
        try:
            return self.ask({"stop": True}).get("peak_rss_mb")
        except (RuntimeError, OSError, ValueError):
            return None
        finally:
            self.close()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stderr.close()


def artifact_spec(artifact: Artifact) -> dict:
    return {"kind": artifact.format, "path": str(artifact.path), "shape": nchw_shape(artifact)}


def _base_row(artifact: Artifact | None, model: str, threads: int, options: BenchOptions, export_dir: Path) -> BenchRow:
    if artifact is None:
        return BenchRow(model=model, format="pytorch", precision="fp32", threads=threads, device="host",
                        runtime="torch", device_name=options.host_name)
    try:
        relative = str(artifact.folder.resolve().relative_to(export_dir.resolve()))
    except ValueError:
        relative = str(artifact.folder)
    return BenchRow(model=artifact.model, format=artifact.format, precision=artifact.precision, threads=threads,
                    device="host", runtime=artifact.format, artifact=relative, size_bytes=artifact.size_bytes,
                    device_name=options.host_name)


def bench_host(artifacts: list[Artifact], export_dir: Path, options: BenchOptions,
               on_progress: Callable[[str], None] | None = None) -> list[BenchRow]:
    """Rows for every (artifact or eager baseline) x thread count; see the module docstring."""
    say = on_progress or (lambda message: None)
    rows: list[BenchRow] = []
    for threads in options.threads:
        workers: list[Worker] = []
        baselines: dict[str, Artifact] = {}
        for artifact in artifacts:
            baselines.setdefault(artifact.model, artifact)
        for model, artifact in baselines.items():
            workers.append(Worker(_base_row(None, model, threads, options, export_dir), baseline_spec(artifact)))
        for artifact in artifacts:
            row = _base_row(artifact, artifact.model, threads, options, export_dir)
            runs, why_not = artifact.runs_here()
            if not runs:
                row.status, row.reason = "skipped", f"not run here: {why_not}"
                rows.append(row)
                continue
            workers.append(Worker(row, {**artifact_spec(artifact), "threads": threads}))
        for worker in workers:
            worker.spec["threads"] = threads
        try:
            rows.extend(_time_workers(workers, threads, options, say))
        finally:
            for worker in workers:
                worker.close()
    _set_speedups(rows)
    return rows


def _time_workers(workers: list[Worker], threads: int, options: BenchOptions, say) -> list[BenchRow]:
    running: list[Worker] = []
    for worker in workers:
        label = worker.row.artifact or "pytorch eager fp32"
        say(f"{threads} thread(s): loading {label}")
        try:
            worker.start(options.warmup)
            running.append(worker)
        except (RuntimeError, OSError, ValueError) as error:
            worker.row.status, worker.row.reason = "failed", f"did not run: {error}"
            worker.close()
    blocks = _plan_blocks(running, options)
    order = random.Random(options.seed * 1000 + threads)
    for round_index, sizes in enumerate(blocks):
        say(f"{threads} thread(s): round {round_index + 1}/{len(blocks)}")
        turn = list(zip(running, sizes))
        order.shuffle(turn)
        for worker, size in turn:
            if worker.row.status != "ok" or size == 0:
                continue
            try:
                worker.run_block(size)
            except (RuntimeError, OSError, ValueError) as error:
                worker.row.status, worker.row.reason = "failed", f"stopped while timing: {error}"
    for worker in running:
        peak = worker.stop()
        if worker.row.status == "ok":
            _fill(worker, peak, threads, options)
    return [worker.row for worker in workers]


def _plan_blocks(workers: list[Worker], options: BenchOptions) -> list[list[int]]:
    """Per round, each worker's block size: --iterations split evenly over the rounds, or --seconds
    turned into iterations from a short pilot block (its times are discarded)."""
    counts = []
    for worker in workers:
        if options.iterations is not None:
            counts.append(options.iterations)
            continue
        try:
            reply = worker.ask({"run": PILOT_ITERATIONS})
            per = max(float(np.median(reply["times_ms"])), 1e-3)
        except (RuntimeError, OSError, ValueError) as error:
            worker.row.status, worker.row.reason = "failed", f"stopped while timing: {error}"
            per = 1.0
        counts.append(max(options.rounds, int(options.seconds * 1000.0 / per)))
    rounds = max(1, min(options.rounds, min(counts, default=1)))
    return [[count // rounds + (1 if r < count % rounds else 0) for count in counts] for r in range(rounds)]


def _fill(worker: Worker, peak_rss_mb: float | None, threads: int, options: BenchOptions) -> None:
    row, ready, times = worker.row, worker.ready, np.asarray(worker.times, dtype=np.float64)
    row.runtime, row.runtime_version, row.delegate = ready["runtime"], ready["runtime_version"], ready["delegate"]
    row.cpu_per_wall = worker.cpu_s / worker.wall_s if worker.wall_s > 0 else None
    cpu_ms = 1000.0 * worker.cpu_s / len(worker.times) if worker.times else None
    row.extra = {**row.extra, "threads_setting": ready["threads_setting"], "rounds": len(worker.round_medians),
                 "cpu_ms_per_iteration": cpu_ms,
                 "round_medians_ms": [round(m, 4) for m in worker.round_medians]}
    row.peak_rss_mb = peak_rss_mb
    checkable = worker.wall_s >= MIN_CHECKED_WALL_S
    if row.cpu_per_wall is not None and checkable and row.cpu_per_wall > threads + THREAD_SLACK:
        row.status = "failed"
        row.reason = (f"thread limit not honoured: {row.cpu_per_wall:.2f} cores' CPU time per wall second with "
                      f"{threads} thread(s) asked ({ready['threads_setting']}); no timing reported")
        return
    row.load_ms, row.first_ms = ready["load_ms"], ready["first_ms"]
    row.warmup, row.iterations = options.warmup, len(times)
    p50, p90, p99 = (float(v) for v in np.percentile(times, [50, 90, 99]))
    row.p50_ms, row.p90_ms, row.p99_ms = p50, p90, p99
    row.mean_ms, row.min_ms = float(times.mean()), float(times.min())
    row.std_ms = float(times.std(ddof=1)) if len(times) > 1 else 0.0
    row.throughput_ips = 1000.0 / row.mean_ms
    drift = max(worker.round_medians) / min(worker.round_medians) if worker.round_medians else 1.0
    notes = []
    if p90 / p50 > WIDE_P90_OVER_P50:
        notes.append(f"p90/p50 {p90 / p50:.2f} > {WIDE_P90_OVER_P50}")
    if drift > WIDE_ROUNDS:
        notes.append(f"round medians differ {drift:.2f}x > {WIDE_ROUNDS}x")
    if not checkable:
        notes.append(f"timed loop of {1000 * worker.wall_s:.1f} ms is too short to check thread use "
                     f"(needs {1000 * MIN_CHECKED_WALL_S:.0f} ms: more --iterations or --seconds)")
    elif row.cpu_per_wall is not None and row.cpu_per_wall < STARVED:
        notes.append(f"starved: cpu/wall {row.cpu_per_wall:.2f} < {STARVED} (it waited for a core: other processes "
                     f"were running)")
    row.wide_spread = bool(notes)
    if notes:
        row.reason = "unreliable: " + "; ".join(notes)


def _set_speedups(rows: list[BenchRow]) -> None:
    """speedup = eager fp32 p50 / row p50, same model, device and thread count."""
    base = {(r.model, r.device, r.threads): r.p50_ms for r in rows
            if r.format == "pytorch" and r.status == "ok" and r.p50_ms}
    for row in rows:
        reference = base.get((row.model, row.device, row.threads))
        if row.status == "ok" and row.p50_ms and reference:
            row.speedup = reference / row.p50_ms


def host_description() -> dict:
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
                break
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version()}

