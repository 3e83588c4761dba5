"""`edgekit bench` on this host: every artifact in its own runtime, against PyTorch eager fp32.

For each thread count, one worker process per artifact plus one for the eager baseline of each model
(edgekit.bench.worker) is started and warmed up one after the other; then the timed iterations run
in rounds: each round gives every worker one block of iterations, in a fresh seeded random order, so
machine drift (other processes, thermal state, frequency) spreads over all rows alike. Only one
worker runs at a time. Each block's CPU time over wall time checks that the runtime honoured the
thread count: a row that used more than `threads + THREAD_SLACK` cores is "failed", never a timing;
one below STARVED waited for a core (a busy machine) and is flagged, like a wide spread, as unreliable.

How long each round is: --iterations N times exactly N (a loop too short to check thread use is flagged);
--seconds S about S seconds; by default each worker's block per round is grown, on discarded pilot blocks, until its
timed loop lasts MIN_ROUND_S (50 ms: long enough for the thread check), with at least DEFAULT_ITERATIONS in all.
Each worker's stderr (runtimes' native logs, library warnings) goes to the log file given (bench.log), never to
the console.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgekit.artifacts import Artifact
from edgekit.bench.baseline import baseline_problem, baseline_spec, nchw_shape, postprocess_spec
from edgekit.bench.options import DEFAULT_ITERATIONS, BenchOptions, parse_threads  # noqa: F401  (parse_threads: the old home)
from edgekit.bench.rows import BenchRow
from edgekit.progress import OnProgress, Reporter, reporter

THREAD_SLACK = 0.3  # CPU time / wall time may exceed the thread count by this much (Python, timers)
WIDE_P90_OVER_P50 = 1.5  # p90 / p50 above this: a wide distribution
WIDE_ROUNDS = 1.3  # slowest round's median / fastest round's median above this: drift during the run
MIN_CHECKED_WALL_S = 0.05  # a timed loop shorter than this cannot judge thread use: a stray ms of another thread's
# CPU time (session set-up, the runtime's housekeeping) is a large fraction of it
STARVED = 0.8  # CPU time / wall time below this: the worker waited for a core (other processes ran)
PILOT_ITERATIONS = 3  # with --seconds: a short block to size the rounds (discarded)
MIN_ROUND_S = MIN_CHECKED_WALL_S  # the default timing grows each round's block until its timed loop lasts this long
ROUND_MARGIN = 1.25  # ... aiming this much above it, so a slightly faster round still lasts long enough
MAX_BLOCK = 100_000  # iterations per round at most (a model faster than 0.5 µs is not a model)
POST_ROUNDS, POST_BLOCK = 5, 6  # a detector's NMS: rounds x runs per row, rows interleaved in a fresh order each round


class Worker:
    """A worker process (edgekit/bench/worker.py run as a script) and the row it will fill. Its stderr (where
    runtimes and their libraries talk) goes to a private file, appended to `log` (bench.log) when it closes."""

    def __init__(self, row: BenchRow, spec: dict, log: Path | None = None):
        self.row, self.spec, self.log = row, spec, log
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
        if self.stderr.closed:
            return
        if self.log is not None:
            self.stderr.seek(0)
            text = self.stderr.read().decode("utf-8", "replace")
            if text.strip():
                label = self.row.artifact or "pytorch eager fp32"
                from edgekit.fileio import open_append

                with open_append(self.log) as log:
                    log.write(f"==> {label}, {self.row.threads} thread(s): the worker's stderr\n{text.rstrip()}\n")
        self.stderr.close()


def artifact_spec(artifact: Artifact) -> dict:
    return {"kind": artifact.format, "path": str(artifact.path), "shape": nchw_shape(artifact),
            **postprocess_spec(artifact)}


def _base_row(artifact: Artifact | None, model: str, threads: int, host_name: str | None, export_dir: Path) -> BenchRow:
    if artifact is None:
        return BenchRow(model=model, format="pytorch", precision="fp32", threads=threads, device="host",
                        runtime="torch", device_name=host_name)
    try:
        relative = str(artifact.folder.resolve().relative_to(export_dir.resolve()))
    except ValueError:
        relative = str(artifact.folder)
    return BenchRow(model=artifact.model, format=artifact.format, precision=artifact.precision, threads=threads,
                    device="host", runtime=artifact.format, artifact=relative, size_bytes=artifact.size_bytes,
                    device_name=host_name)


def bench_host(artifacts: list[Artifact], export_dir: Path, options: BenchOptions,
               on_progress: OnProgress | Reporter | None = None, host_name: str | None = None,
               log: Path | None = None) -> list[BenchRow]:
    """Rows for every (artifact or eager baseline) x thread count; see the module docstring. `host_name` (the
    CPU model) goes into each row's device_name; the workers' stderr is appended to `log` when given."""
    say = reporter(on_progress).stage
    rows: list[BenchRow] = []
    for threads in options.threads:
        workers: list[Worker] = []
        baselines: dict[str, Artifact] = {}
        for artifact in artifacts:
            baselines.setdefault(artifact.model, artifact)
        for model, artifact in baselines.items():
            row, spec = _base_row(None, model, threads, host_name, export_dir), baseline_spec(artifact)
            problem = baseline_problem(spec)
            if problem:  # nothing is loaded from a program that is outside the folder or not the one exported
                row.status, row.reason = "skipped", f"eager baseline not rebuilt: {problem}"
                rows.append(row)
                continue
            workers.append(Worker(row, spec, log))
        for artifact in artifacts:
            row = _base_row(artifact, artifact.model, threads, host_name, export_dir)
            runs, why_not = artifact.runs_here()
            if not runs:
                row.status, row.reason = "skipped", f"not run here: {why_not}"
                rows.append(row)
                continue
            workers.append(Worker(row, {**artifact_spec(artifact), "threads": threads}, log))
        scratch = Path(tempfile.mkdtemp(prefix="edgekit-bench-post-"))  # detectors' outputs, for their NMS timing
        for index, worker in enumerate(workers):
            worker.spec["threads"] = threads
            if "postprocess" in worker.spec:
                worker.spec["postprocess"] = {**worker.spec["postprocess"], "output_path": str(scratch / f"{index}.npy")}
        try:
            rows.extend(_time_workers(workers, threads, options, say))
            _time_postprocessing(workers, options.seed * 1000 + threads)
        finally:
            for worker in workers:
                worker.close()
            shutil.rmtree(scratch, ignore_errors=True)
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


def _time_postprocessing(workers: list[Worker], seed: int) -> None:
    """A detector's NMS (edgekit.detection_post.postprocess), timed in this process on each row's graph output for
    the bench input (saved by its worker), POST_ROUNDS rounds of POST_BLOCK runs with the rows in a fresh seeded
    order each round, like the graph's timing: every row's figure under the same conditions. -> row.post_p50_ms."""
    import time

    from edgekit.detection_post import PostprocessSettings, postprocess

    jobs = []
    for worker in workers:
        post = worker.spec.get("postprocess")
        if worker.row.status != "ok" or not post or not Path(post["output_path"]).is_file():
            continue
        output = np.load(post["output_path"], allow_pickle=False).reshape(int(post["num_anchors"]), -1)
        jobs.append((worker.row, output, int(post["img_size"]), PostprocessSettings.from_dict(post["settings"]), []))
    order = random.Random(seed)
    for _ in range(POST_ROUNDS):
        order.shuffle(jobs)
        for row, output, size, settings, times in jobs:
            for _ in range(POST_BLOCK):
                started = time.perf_counter()
                postprocess(output, size, settings)
                times.append((time.perf_counter() - started) * 1000.0)
    for row, _, _, _, times in jobs:
        row.post_p50_ms = float(np.median(times))
        row.extra = {**row.extra, "post_input": "the graph's output for the bench's seeded random input",
                     "post_repeats": len(times)}


def _plan_blocks(workers: list[Worker], options: BenchOptions) -> list[list[int]]:
    """Per round, each worker's block size:
    --iterations   split evenly over the rounds;
    --seconds      turned into iterations from a short pilot block;
    neither        at least DEFAULT_ITERATIONS over all rounds, and each round's block grown until its timed loop
                   lasts MIN_ROUND_S (_grown_block), so the thread check has enough CPU time to judge.
    Pilot blocks are discarded (they are more warm-up)."""
    counts = []
    for worker in workers:
        if options.iterations is not None:
            counts.append(options.iterations)
            continue
        try:
            if options.seconds is not None:
                reply = worker.ask({"run": PILOT_ITERATIONS})
                per = max(float(np.median(reply["times_ms"])), 1e-3)
                counts.append(max(options.rounds, int(options.seconds * 1000.0 / per)))
            else:
                per_round = max(_grown_block(worker), -(-DEFAULT_ITERATIONS // options.rounds))
                counts.append(per_round * options.rounds)
        except (RuntimeError, OSError, ValueError) as error:
            worker.row.status, worker.row.reason = "failed", f"stopped while timing: {error}"
            counts.append(options.rounds)
    rounds = max(1, min(options.rounds, min(counts, default=1)))
    return [[count // rounds + (1 if r < count % rounds else 0) for count in counts] for r in range(rounds)]


def _grown_block(worker: Worker) -> int:
    """The fewest back-to-back iterations whose timed loop lasted MIN_ROUND_S, found by timing growing blocks:
    1, then the size the last block's wall time predicts (with ROUND_MARGIN, at least double), until one does."""
    size = 1
    while True:
        wall = float(worker.ask({"run": size})["wall_s"])
        if wall >= MIN_ROUND_S or size >= MAX_BLOCK:
            return size
        predicted = int(size * MIN_ROUND_S * ROUND_MARGIN / max(wall, 1e-9)) + 1
        size = min(MAX_BLOCK, max(2 * size, predicted))


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
                     f"(needs {1000 * MIN_CHECKED_WALL_S:.0f} ms: more --iterations, or --seconds, or neither)")
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
    flag_slow_int8(rows)


def flag_slow_int8(rows: list[BenchRow], facts: dict | None = None) -> None:
    """Each host int8 row gets `extra["int8_vs_fp32"]` (the same format's fp32 p50 / its p50, same threads); one
    that is slower than its fp32 says why from this CPU's instruction set (edgekit.cpu) in its reason."""
    from edgekit.cpu import cpu_facts

    fp32 = {(r.model, r.format, r.device, r.threads): r.p50_ms for r in rows
            if r.precision == "fp32" and r.status == "ok" and r.p50_ms}
    for row in rows:
        reference = fp32.get((row.model, row.format, row.device, row.threads))
        if row.precision != "int8" or row.status != "ok" or not row.p50_ms or not reference or row.device != "host":
            continue
        ratio = reference / row.p50_ms
        row.extra = {**row.extra, "int8_vs_fp32": round(ratio, 3)}
        if ratio < 1.0:
            facts = facts or cpu_facts()
            note = f"int8 slower than {row.format} fp32 ({ratio:.2f}x) on this CPU: {facts['int8_note']}"
            row.reason = f"{row.reason}; {note}" if row.reason else note


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
    from edgekit.cpu import cpu_facts

    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version(),
            "int8": cpu_facts()}

