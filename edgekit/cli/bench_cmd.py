"""`edgekit bench PATH`: latency, size and accuracy of exported artifacts, each in its own runtime."""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from edgekit.errors import EdgekitError

console = Console()
err_console = Console(stderr=True)


def bench_command(
    path: Path = typer.Argument(..., help="An export folder (OUT/<model>/ from `edgekit export`) or one artifact folder; every manifest's sha256 is checked before use."),
    threads: str = typer.Option("1,all", "--threads", help="Comma-separated thread counts, each enforced in every runtime and checked (CPU time / wall time); 'all' = every core here."),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="Timed iterations per artifact and thread count (default 50 unless --seconds)."),
    seconds: Optional[float] = typer.Option(None, "--seconds", help="Instead of --iterations: about this many timed seconds per artifact and thread count."),
    warmup: int = typer.Option(10, "--warmup", help="Discarded iterations after the first inference."),
    rounds: int = typer.Option(5, "--rounds", help="The timed iterations are split into this many rounds; each round runs every artifact once, in a seeded random order, so drift favours none."),
    data: Optional[Path] = typer.Option(None, "--data", help="A labelled folder (class folders, or a prepared directory: its val split): top-1 with a 95 % interval of every artifact in its own runtime, beside its latency."),
    budget_ms: Optional[float] = typer.Option(None, "--budget-ms", help="Name the most accurate artifact whose p50 fits this many milliseconds at the first --threads value."),
    compare: Optional[Path] = typer.Option(None, "--compare", help="An earlier bench.json: show each row's p50 ratio to it; more than 10 % slower is marked a regression."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON on stdout (progress and tables go to stderr)."),
    device: str = typer.Option("host", "--device", help="host, or adb[:SERIAL] to time on an Android phone with the runtime's own benchmark tool."),
    tool: Optional[str] = typer.Option(None, "--tool", help="With --device adb: the benchmark binary to push (benchmark_model, executor_runner, onnxruntime_perf_test), or 'app' for the android_demo benchmark activity. Default: $EDGEKIT_TOOLS/android/<abi>/."),
    write: bool = typer.Option(True, "--write/--no-write", help="Merge the rows into bench.json and bench.csv in the export folder."),
) -> None:
    """Time every artifact in its own runtime (load, first inference, p50/p90/p99...) against PyTorch eager fp32 at the same threads."""
    from edgekit.artifacts import check_loadable, export_folder_of, find_artifacts
    from edgekit.bench.host import BenchOptions, bench_host, host_description, parse_threads
    from edgekit.bench.results import compare_rows, pick_for_budget, read_bench, write_bench

    is_host = device == "host"
    if not is_host and not (device == "adb" or device.startswith("adb:")):
        raise EdgekitError(f"--device must be host, adb or adb:SERIAL, got '{device}'")
    thread_counts = parse_threads(threads)
    if is_host and max(thread_counts) > (os.cpu_count() or 1):
        raise EdgekitError(f"--threads {max(thread_counts)} exceeds the {os.cpu_count()} cores of this host")
    if not is_host and seconds is not None:
        raise EdgekitError("--seconds times the host only; give --iterations with --device adb")
    if iterations is not None and seconds is not None:
        raise EdgekitError("give --iterations or --seconds, not both")
    if iterations is not None and iterations < 1:
        raise EdgekitError(f"--iterations must be at least 1, got {iterations}")
    if seconds is not None and not seconds > 0:
        raise EdgekitError(f"--seconds must be positive, got {seconds}")
    if warmup < 0 or rounds < 1:
        raise EdgekitError("--warmup must be at least 0 and --rounds at least 1")
    if budget_ms is not None and not budget_ms > 0:
        raise EdgekitError(f"--budget-ms must be positive, got {budget_ms}")
    old_rows = read_bench(compare)[1] if compare is not None else None
    artifacts = find_artifacts(path)
    check_loadable(artifacts)  # a model file that does not load, or not with its manifest's tensors: one line, now
    export_dir = export_folder_of(path)
    if write:  # bench.json goes there: a read-only export folder is one line before any timing, not after
        from edgekit.fileio import writable_folder

        writable_folder(export_dir, "the export folder (bench.json and bench.csv go there; --no-write to skip)")
    host = host_description()
    say = lambda message: err_console.print(f"[dim]{message}[/]", highlight=False)
    if is_host:
        options = BenchOptions(threads=thread_counts, iterations=iterations if iterations or seconds else 50,
                               seconds=seconds, warmup=warmup, rounds=rounds, host_name=host["cpu"])
        rows = bench_host(artifacts, export_dir, options, on_progress=say)
    else:
        from edgekit.bench.adb import bench_on_device

        rows = bench_on_device(export_dir, [a.folder for a in artifacts], device=device, tool=tool,
                               threads=thread_counts, iterations=iterations or 50, warmup=warmup, on_progress=say)
    if data is not None:
        from edgekit.bench.accuracy import join_accuracy

        join_accuracy(rows, artifacts, data, on_progress=say)
    if write:
        command = " ".join(shlex.quote(a) for a in ["edgekit", *sys.argv[1:]])
        json_path, csv_path = write_bench(export_dir, rows, host, command)
        err_console.print(f"wrote {json_path} and {csv_path}", highlight=False, soft_wrap=True)
    out = err_console if as_json else console
    out.print(rows_table(rows, host), soft_wrap=True)
    if compare is not None:
        out.print(compare_table(compare_rows(rows, old_rows), compare), soft_wrap=True)
    if budget_ms is not None:
        parity = {(a.model, a.format, a.precision): a.parity_top1 for a in artifacts}
        reference = next((a.manifest.get("parity", {}) for a in artifacts if a.precision == "fp32"), {})
        parity_by_key = {}
        for row in rows:
            if row.format == "pytorch":
                parity_by_key[row.key] = (reference.get("reference_top1"), reference.get("images", ""))
            else:
                parity_by_key[row.key] = parity.get((row.model, row.format, row.precision), (None, ""))
        out.print(budget_line(pick_for_budget(rows, budget_ms, thread_counts[0], parity_by_key)), soft_wrap=True,
                  highlight=False)
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in rows], indent=2))


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _label(row) -> str:
    return "pytorch eager" if row.format == "pytorch" else f"{row.format}-{row.precision}"


def rows_table(rows, host: dict) -> Table:
    models = sorted({r.model for r in rows})
    table = Table(title=f"{', '.join(models)} on {host['cpu']}, {host['cores']} cores (batch 1, ms)", title_justify="left")
    for column in ("artifact", "thr", "p50", "p90", "p99", "mean±std", "speed-up", "cpu/wall", "load+first",
                   "RSS MB", "size MB", "top-1 % [95 %]", "runtime"):
        table.add_column(column, justify="left" if column in ("artifact", "runtime") else "right")
    notes = []
    for r in rows:
        mean = f"{_ms(r.mean_ms)}±{_ms(r.std_ms)}" if r.mean_ms is not None else ""
        top1 = f"{r.top1:.1f} [{r.top1_ci[0]:.1f}, {r.top1_ci[1]:.1f}]" if r.top1 is not None and r.top1_ci else ""
        p50 = _ms(r.p50_ms) + ("[yellow]~[/]" if r.wide_spread else "") if r.status == "ok" else f"[red]{r.status}[/]"
        table.add_row(_label(r), str(r.threads), p50, _ms(r.p90_ms), _ms(r.p99_ms), mean,
                      f"{r.speedup:.2f}x" if r.speedup else "", f"{r.cpu_per_wall:.2f}" if r.cpu_per_wall else "",
                      f"{_ms(r.load_ms)}+{_ms(r.first_ms)}" if r.load_ms is not None else "",
                      f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb else "", f"{r.size_bytes / 1e6:.2f}" if r.size_bytes else "",
                      top1, " ".join(x for x in (r.runtime, r.runtime_version or "") if x))
        if r.reason:
            notes.append(f"{_label(r)} at {r.threads} thread(s): {r.reason}")
    table.caption = "\n".join(["~ unreliable: wide spread (p90/p50 > 1.5, round medians differ > 1.3x) or starved "
                               "(cpu/wall < 0.8: other processes took the CPU)"] + notes)
    table.caption_justify = "left"
    return table


def compare_table(comparisons, old_path: Path) -> Table:
    table = Table(title=f"against {old_path}", title_justify="left")
    for column in ("model", "artifact", "thr", "device", "p50 before", "p50 now", "ratio", ""):
        table.add_column(column, justify="left" if column in ("model", "artifact", "device", "") else "right")
    for c in comparisons:
        r = c.row
        name = _label(r)
        mark = "[bold red]REGRESSION[/]" if c.regression else ("no earlier row" if c.old_p50_ms is None else "")
        table.add_row(r.model, name, str(r.threads), r.device, _ms(c.old_p50_ms), _ms(r.p50_ms),
                      f"{c.ratio:.2f}" if c.ratio else "", mark)
    return table


def budget_line(answer) -> str:
    if answer.choice is None:
        fastest = answer.fastest
        tail = (f"; the fastest is {_name(fastest)} at {fastest.p50_ms:.2f} ms p50" if fastest else "; nothing was timed")
        return f"budget {answer.budget_ms:g} ms at {answer.threads} thread(s): none fits{tail}"
    head = f"budget {answer.budget_ms:g} ms at {answer.threads} thread(s): [bold]{_name(answer.choice)}[/]"
    if answer.accuracy is None:
        return f"{head}, p50 {answer.choice.p50_ms:.2f} ms, {answer.fitting} fit; {answer.accuracy_source}"
    return (f"{head} (top-1 {answer.accuracy:.1f} %), p50 {answer.choice.p50_ms:.2f} ms, {answer.fitting} fit; "
            f"accuracy: {answer.accuracy_source}")


def _name(row) -> str:
    return "pytorch eager fp32" if row.format == "pytorch" else f"{row.artifact or row.format + '-' + row.precision}"


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
