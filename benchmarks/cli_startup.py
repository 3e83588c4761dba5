"""How long the CLI takes to answer when it does no work: `edgekit --help`, a command's `--help`, a mistyped option.

Issue 25 asks for under half a second for `edgekit --help` (the CLI imports no torch; tests/test_house_rules.py keeps
it so). A benchmark, never a test: the figure depends on the CPU, the disk cache and whatever else runs. Each case
is a fresh `python -m edgekit.cli.main ...` process; the cases run interleaved (round 1: every case once, in a
shuffled order; round 2: ...) so drift during the run favours none, and `python -c pass` (the interpreter alone)
runs among them as the floor. Prints the median and the spread of the wall times, the load, and the CPU.

    python benchmarks/cli_startup.py [--rounds 15]
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "python -c pass (the floor)": ["-c", "pass"],
    "edgekit --help": ["-m", "edgekit.cli.main", "--help"],
    "edgekit export --help": ["-m", "edgekit.cli.main", "export", "--help"],
    "edgekit export --fp61 (usage error)": ["-m", "edgekit.cli.main", "export", "mobilenet_v2", "--fp61"],
    "edgekit bench --help": ["-m", "edgekit.cli.main", "bench", "--help"],
}


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
           "COLUMNS": "80"}
    times: dict[str, list[float]] = {name: [] for name in CASES}
    order = random.Random(0)
    for _ in range(args.rounds):
        names = list(CASES)
        order.shuffle(names)
        for name in names:
            started = time.perf_counter()
            subprocess.run([sys.executable, *CASES[name]], env=env, capture_output=True, timeout=120)
            times[name].append(time.perf_counter() - started)
    print(f"{cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"Python {platform.python_version()}; {args.rounds} interleaved rounds")
    for name, values in times.items():
        quartiles = statistics.quantiles(values, n=4)
        print(f"  {name:<38} median {statistics.median(values):.3f} s  (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f})")


if __name__ == "__main__":
    main()
