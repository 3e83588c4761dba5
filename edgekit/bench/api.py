"""`bench(path, BenchOptions(...))`: the stage behind `edgekit bench`, returning values (the CLI renders them).

    result = bench("export/mobilenet_v2", BenchOptions(threads="1,all", data="samples/fashion-mnist", budget_ms=5))
    result.rows          BenchRow per (artifact or eager baseline) x thread count
    result.comparisons   with `compare`: each row's p50 against the earlier bench.json
    result.budget        with `budget_ms`: the most accurate artifact that fits (accuracy: --data, else parity)
    result.json_path     bench.json / bench.csv written (merged) unless `write` is False
    result.log_path      bench.log: what the runtimes printed (never the console)

Every artifact's manifest and sha256 are checked before anything is timed; the earlier bench.json of `compare` is
read before the timing too, so a bad file costs nothing.
"""
from __future__ import annotations

import os
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.bench.options import BenchOptions
from edgekit.bench.results import BudgetAnswer, Comparison
from edgekit.bench.rows import BenchRow
from edgekit.fileio import remove_path
from edgekit.progress import OnProgress, Reporter, reporter

BENCH_LOG = "bench.log"


@dataclass
class BenchResult:
    rows: list[BenchRow]
    host: dict  # cpu, cores, os, python
    export_dir: Path
    options: BenchOptions
    comparisons: list[Comparison] | None = None
    budget: BudgetAnswer | None = None
    accuracy_data: str | None = None  # the --data description
    json_path: Path | None = None
    csv_path: Path | None = None
    log_path: Path | None = None
    models: list[str] = field(default_factory=list)


def bench(path: Path | str, options: BenchOptions | None = None,
          on_progress: OnProgress | Reporter | None = None) -> BenchResult:
    """Time every artifact under `path` (an export folder or one artifact folder) in its own runtime; see the
    module docstring."""
    from edgekit.artifacts import check_loadable, export_folder_of, find_artifacts
    from edgekit.bench.results import compare_rows, read_bench, write_bench
    from edgekit.fileio import writable_folder

    options = options or BenchOptions()
    say = reporter(on_progress)
    old_rows = read_bench(options.compare)[1] if options.compare is not None else None
    artifacts = find_artifacts(path)
    export_dir = export_folder_of(path)
    log_path = staged_log = None
    if options.write:  # bench.json goes there: a read-only export folder is one line before any timing, not after
        writable_folder(export_dir, "the export folder (bench.json and bench.csv go there; --no-write to skip)")
        log_path = export_dir / BENCH_LOG
        staged_log = _staged_log(export_dir)  # bench.log is put in place with bench.json: Ctrl-C leaves neither
    try:
        from edgekit.logcapture import captured

        adb = None
        if not options.is_host:  # the phone is found before the artifacts load: its errors do not wait for them
            from edgekit.bench.adb import connect_device

            adb = connect_device(options)
        with captured(staged_log):  # what the runtimes print while loading: to bench.log, not the console
            check_loadable(artifacts)  # a file that does not load, or not with its manifest's tensors: one line, now
        result = _time_and_join(artifacts, export_dir, options, say, staged_log, adb)
        result.log_path = log_path
        if options.write:
            command = " ".join(shlex.quote(a) for a in ["edgekit", *sys.argv[1:]])
            result.json_path, result.csv_path = write_bench(export_dir, rows=result.rows, host=result.host,
                                                            command=command)
            os.replace(staged_log, log_path)
    finally:
        if staged_log is not None:
            remove_path(staged_log)
    if old_rows is not None:
        result.comparisons = compare_rows(result.rows, old_rows)
    if options.budget_ms is not None:
        result.budget = budget_answer(result.rows, artifacts, options.budget_ms, options.threads[0])
    return result


def _staged_log(export_dir: Path) -> Path:
    from edgekit import interrupts

    handle, name = tempfile.mkstemp(dir=export_dir, prefix=f".{BENCH_LOG}.", suffix=".tmp")
    os.close(handle)
    interrupts.register(Path(name))  # removed even when Ctrl-C has to end the process outright
    return Path(name)


def _time_and_join(artifacts: list, export_dir: Path, options: BenchOptions, say, log: Path | None,
                   adb=None) -> "BenchResult":
    """The timed rows (host or adb), and with --data each artifact's top-1 joined to its rows."""
    from edgekit.bench.host import bench_host, host_description

    host = host_description()
    if options.is_host:
        rows = bench_host(artifacts, export_dir, options, on_progress=say, host_name=host["cpu"], log=log)
    else:
        from edgekit.bench.adb import bench_on_device

        rows = bench_on_device(export_dir, [a.folder for a in artifacts], options, on_progress=say, adb=adb)
    result = BenchResult(rows, host, export_dir, options, log_path=None, models=sorted({row.model for row in rows}))
    if options.data is not None:
        from edgekit.bench.accuracy import join_accuracy
        from edgekit.logcapture import captured

        with captured(log):  # the runtimes run in this process here: their chatter to bench.log too
            result.accuracy_data = join_accuracy(rows, artifacts, options.data, on_progress=say)
    return result


def budget_answer(rows: list[BenchRow], artifacts: list, budget_ms: float, threads: int) -> BudgetAnswer:
    """The most accurate row whose p50 fits `budget_ms` at `threads`: accuracy measured with --data when every
    fitting row has it, else each artifact's export parity top-1 (the eager baseline: the fp32 reference's)."""
    from edgekit.bench.results import pick_for_budget

    parity = {(a.model, a.format, a.precision): a.parity_top1 for a in artifacts}
    reference = next((a.manifest.get("parity", {}) for a in artifacts if a.precision == "fp32"), {})
    parity_by_key = {}
    for row in rows:
        if row.format == "pytorch":
            parity_by_key[row.key] = (reference.get("reference_map" if reference.get("metric") == "map" else
                                                    "reference_top1"), reference.get("images", ""))
        else:
            parity_by_key[row.key] = parity.get((row.model, row.format, row.precision), (None, ""))
    return pick_for_budget(rows, budget_ms, threads, parity_by_key)
