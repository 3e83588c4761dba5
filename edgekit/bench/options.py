"""What `edgekit bench` is asked to do: `BenchOptions`, frozen, every value checked when it is made (torch-free).

    from edgekit.bench import BenchOptions, bench
    result = bench("export/mobilenet_v2", BenchOptions(threads="1,all", data="samples/fashion-mnist", budget_ms=5))

Timing (host): with neither `iterations` nor `seconds`, each round's block of iterations grows until its timed
loop lasts at least MIN_ROUND_S (so the CPU-time thread check has enough to judge), and the whole run times at
least DEFAULT_ITERATIONS; `iterations` asks for exactly that many, `seconds` for about that long.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from edgekit import validate
from edgekit.errors import EdgekitError

DEFAULT_ITERATIONS = 50  # the least number of timed iterations per row (the default timing grows beyond it)
DEVICES_HELP = "host, adb or adb:SERIAL"


def parse_threads(text: str | int | Sequence[int], cores: int | None = None) -> tuple[int, ...]:
    """'1,2' or '1,all' (or a list of ints) -> (1, 2); 'all' is every core of this host. One clear error otherwise."""
    cores = cores or os.cpu_count() or 1
    parts = text.split(",") if isinstance(text, str) else [text] if isinstance(text, int) else list(text)
    values = []
    for part in parts:
        if isinstance(part, str):
            part = part.strip().lower()
            if part == "all":
                values.append(cores)
                continue
            try:
                part = int(part)
            except ValueError:
                raise EdgekitError(f"--threads expects comma-separated positive integers or 'all', got '{text}'") from None
        if isinstance(part, bool) or not isinstance(part, int):
            raise EdgekitError(f"--threads expects comma-separated positive integers or 'all', got {text!r}")
        if part < 1:
            raise EdgekitError(f"--threads values must be at least 1, got {part}")
        values.append(part)
    if not values:
        raise EdgekitError("--threads needs at least one thread count")
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class BenchOptions:
    """threads      thread counts ('1,all', or ints), each enforced in every runtime and checked
    iterations   timed iterations per row; None: the default timing (see the module docstring)
    seconds      instead of iterations: about this many timed seconds per row (host only)
    warmup       discarded iterations after the first inference
    rounds       the timed iterations are split into this many rounds, every artifact once per round in a
                 seeded random order, so drift favours none
    device       host, adb or adb:SERIAL
    tool         with adb: the benchmark binary to push, or "app"
    data         a labelled folder: every artifact's top-1 in its own runtime joins its rows
    budget_ms    name the most accurate artifact whose p50 fits, at the first thread count
    compare      an earlier bench.json: each row's p50 ratio to it
    write        merge the rows into bench.json/bench.csv in the export folder
    """

    threads: str | Sequence[int] = "1,all"
    iterations: int | None = None
    seconds: float | None = None
    warmup: int = 10
    rounds: int = 5
    device: str = "host"
    tool: str | None = None
    data: Path | str | None = None
    budget_ms: float | None = None
    compare: Path | str | None = None
    write: bool = True
    seed: int = 0

    def __post_init__(self):
        if not isinstance(self.device, str) or not (self.device == "host" or self.device == "adb"
                                                    or self.device.startswith("adb:")):
            raise EdgekitError(f"--device must be {DEVICES_HELP}, got '{self.device}'")
        if self.device == "adb:":
            raise EdgekitError("--device adb: needs a serial after the colon (see `adb devices -l`)")
        threads = parse_threads(self.threads)
        object.__setattr__(self, "threads", threads)
        cores = os.cpu_count() or 1
        if self.is_host and max(threads) > cores:
            raise EdgekitError(f"--threads {max(threads)} exceeds the {cores} cores of this host")
        if self.iterations is not None and self.seconds is not None:
            raise EdgekitError("give --iterations or --seconds, not both")
        validate.count("--iterations", self.iterations, optional=True)
        validate.number("--seconds", self.seconds, positive=True, optional=True)
        if not self.is_host and self.seconds is not None:
            raise EdgekitError("--seconds times the host only; give --iterations with --device adb")
        if self.is_host and self.tool is not None:
            raise EdgekitError("--tool applies to --device adb only")
        validate.count("--warmup", self.warmup, low=0)
        validate.count("--rounds", self.rounds)
        validate.number("--budget-ms", self.budget_ms, positive=True, optional=True)
        validate.count("seed", self.seed, low=0)
        for name in ("data", "compare"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))

    @property
    def is_host(self) -> bool:
        return self.device == "host"

    @property
    def serial(self) -> str | None:
        return self.device.split(":", 1)[1] if ":" in self.device else None
