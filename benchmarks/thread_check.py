"""Does the bench's thread check catch a runtime that ignores the thread count? (docs/benchmarks.md)

Times ExecuTorch and onnxruntime artifacts at 1 thread twice, interleaved, in edgekit.bench's own
worker processes: once with the harness's per-runtime setting, once with the runtime's default
threading (ExecuTorch's threadpool sized to every core; onnxruntime's one intra-op thread per core).
Prints CPU time / wall time and p50 of each. On an idle 2-core host the unenforced rows use ~2 cores
and `edgekit bench` would mark them failed (> 1 + THREAD_SLACK); under load every figure shrinks.

    python benchmarks/thread_check.py EXPORT_DIR [--iterations 200]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from edgekit.artifacts import find_artifacts  # noqa: E402
from edgekit.bench.host import THREAD_SLACK, Worker, artifact_spec  # noqa: E402
from edgekit.bench.rows import BenchRow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    workers = []
    for artifact in find_artifacts(args.export):
        if artifact.format not in ("executorch", "onnx") or artifact.precision != "fp32":
            continue
        for enforce in (True, False):
            row = BenchRow(artifact.model, artifact.format, artifact.precision, 1, "host", artifact.format)
            worker = Worker(row, {**artifact_spec(artifact), "threads": 1, "enforce_threads": enforce})
            worker.start(warmup=10)
            workers.append((enforce, worker))
    for _ in range(args.rounds):
        for _, worker in workers:
            worker.run_block(args.iterations // args.rounds)
    print(f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores; a 1-thread row fails above {1 + THREAD_SLACK}")
    for enforce, worker in workers:
        print(f"{worker.row.format:<10} 1 thread  {'enforced    ' if enforce else 'NOT enforced'}  "
              f"cpu/wall {worker.cpu_s / worker.wall_s:.2f}  p50 {np.median(worker.times):.2f} ms  "
              f"({worker.ready['threads_setting']})")
        worker.stop()


if __name__ == "__main__":
    main()
