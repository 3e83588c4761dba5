"""One benchmark worker process: one artifact at one thread count, driven by the parent over a pipe.

Started as a script (`python .../edgekit/bench/worker.py`, the package root on PYTHONPATH). Importing edgekit
and its runtime modules loads no torch: only the runtimes that need it (ExecuTorch, TorchScript, the eager
baseline) import it, so the peak RSS of an onnxruntime or LiteRT worker is that runtime's own.

Protocol, one JSON object per line; the worker's stdout is moved to a private descriptor first so
that runtimes printing to fd 1 cannot corrupt it:
    parent -> {"spec": {...}, "warmup": W}       first line: open the session, run once (first_ms), warm up
    worker -> {"ready": {load_ms, first_ms, runtime, runtime_version, delegate, threads_setting, post_ms}}
              (post_ms: a detector's NMS, edgekit.detection_post.postprocess, timed POST_REPEATS times on the
              graph's output for the bench input, apart from the graph; absent for a classifier)
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

POST_REPEATS = 30


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


def time_postprocess(post: dict, output) -> list[float]:
    """Milliseconds of edgekit.detection_post.postprocess on one image's output, POST_REPEATS times."""
    from edgekit.detection_post import PostprocessSettings, postprocess

    settings = PostprocessSettings.from_dict(post["settings"])
    row = output.reshape(int(post["num_anchors"]), -1)
    times = []
    for _ in range(POST_REPEATS):
        started = time.perf_counter()
        postprocess(row, int(post["img_size"]), settings)
        times.append((time.perf_counter() - started) * 1000.0)
    return times


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
        post_ms = time_postprocess(post, session.values(session.run())) if post else None
    except Exception as error:  # the parent turns it into a failed row
        text = " ".join(str(error).split()) or type(error).__name__
        reply({"error": f"{type(error).__name__}: {text}"[:300]})
        return
    reply({"ready": {"load_ms": session.load_ms, "first_ms": first_ms, "runtime": session.runtime,
                     "runtime_version": session.runtime_version, "delegate": session.delegate,
                     "threads_setting": session.threads_setting,
                     **({"post_ms": post_ms} if post_ms else {})}})
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
