"""One benchmark worker process: one artifact at one thread count, driven by the parent over a pipe.

Started as a script (`python .../edgekit/bench/worker.py`, the package root on PYTHONPATH). Importing edgekit
and its runtime modules loads no torch: only the runtimes that need it (ExecuTorch, TorchScript, the eager
baseline) import it, so the peak RSS of an onnxruntime or LiteRT worker is that runtime's own.

Protocol, one JSON object per line; the worker's stdout is moved to a private descriptor first so
that runtimes printing to fd 1 cannot corrupt it:
    parent -> {"spec": {...}, "warmup": W}       first line: open the session, run once (first_ms), warm up
    worker -> {"ready": {load_ms, first_ms, runtime, runtime_version, delegate, threads_setting}}
              (a detector's spec names `postprocess.output_path`: the worker saves the graph's output for the bench
              input there (.npy), and the parent times the NMS on it, every row's interleaved in one process)
              or {"error": "..."}
    parent -> {"run": N}                          time N iterations back to back
    worker -> {"times_ms": [...], "cpu_s": c, "wall_s": w}   CPU time of the whole process over the block
    parent -> {"stop": true}
    worker -> {"peak_rss_mb": m}
"""
from __future__ import annotations

import json
import os
import sys
import time


def _peak_rss_mb() -> float | None:
    """VmHWM of this process. Not getrusage's ru_maxrss: Linux carries that over exec from the parent
    (which has torch loaded), so every worker would report at least the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def time_block(run, iterations: int) -> dict:
    """Time `iterations` calls; CPU time (all threads of this process) and wall time over the block."""
    clock = time.perf_counter
    times = [0.0] * iterations
    cpu_start, wall_start = time.process_time(), clock()
    for i in range(iterations):
        started = clock()
        run()
        times[i] = clock() - started
    wall, cpu = clock() - wall_start, time.process_time() - cpu_start
    return {"times_ms": [t * 1000.0 for t in times], "cpu_s": cpu, "wall_s": wall}


def serve(commands, reply) -> None:
    first = json.loads(commands.readline())
    try:
        from edgekit.bench.sessions import open_session

        session = open_session(first["spec"])
        started = time.perf_counter()
        session.run()
        first_ms = (time.perf_counter() - started) * 1000.0
        for _ in range(int(first.get("warmup", 0))):
            session.run()
        post = first["spec"].get("postprocess")
        if post:  # a detector: the output its NMS will be timed on, by the parent
            import numpy as np

            np.save(post["output_path"], np.ascontiguousarray(session.values(session.run()), dtype=np.float32))
    except Exception as error:  # the parent turns it into a failed row
        text = " ".join(str(error).split()) or type(error).__name__
        reply({"error": f"{type(error).__name__}: {text}"[:300]})
        return
    reply({"ready": {"load_ms": session.load_ms, "first_ms": first_ms, "runtime": session.runtime,
                     "runtime_version": session.runtime_version, "delegate": session.delegate,
                     "threads_setting": session.threads_setting}})
    for line in commands:
        command = json.loads(line)
        if "run" in command:
            reply(time_block(session.run, int(command["run"])))
        else:
            break
    reply({"peak_rss_mb": _peak_rss_mb()})


def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything a runtime prints on stdout now goes to stderr
    sys.stdout = sys.stderr

    def reply(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    serve(sys.stdin, reply)


if __name__ == "__main__":
    main()
