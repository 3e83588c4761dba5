"""`edgekit bench PATH`: latency, size and accuracy of exported artifacts, each in its own runtime.

Parses the flags into edgekit.bench.options.BenchOptions (which checks them), runs edgekit.bench.api.bench and
renders its result: a table of the columns a person reads first (80 columns wide), --wide for every column;
bench.json, bench.csv and the report carry everything.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from edgekit.bench.options import BenchOptions
from edgekit.cli import render
from edgekit.cli.defaults import default


def bench_command(
    path: Path = typer.Argument(..., help="An export folder (OUT/<model>/ from `edgekit export`) or one artifact folder; every manifest's sha256 is checked before use."),
    threads: str = typer.Option(default(BenchOptions, "threads"), "--threads", help="Comma-separated thread counts, each enforced in every runtime and checked (CPU time / wall time); 'all' = every core here."),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="Timed iterations per artifact and thread count, exactly. Default: at least 50, and each round grown until its timed loop lasts 50 ms (long enough to check thread use)."),
    seconds: Optional[float] = typer.Option(None, "--seconds", help="Instead of --iterations: about this many timed seconds per artifact and thread count."),
    warmup: int = typer.Option(default(BenchOptions, "warmup"), "--warmup", help="Discarded iterations after the first inference."),
    rounds: int = typer.Option(default(BenchOptions, "rounds"), "--rounds", help="The timed iterations are split into this many rounds; each round runs every artifact once, in a seeded random order, so drift favours none."),
    data: Optional[Path] = typer.Option(None, "--data", help="A labelled folder (class folders, or a prepared directory: its val split): top-1 with a 95 % interval of every artifact in its own runtime, beside its latency."),
    budget_ms: Optional[float] = typer.Option(None, "--budget-ms", help="Name the most accurate artifact whose p50 fits this many milliseconds at the first --threads value."),
    compare: Optional[Path] = typer.Option(None, "--compare", help="An earlier bench.json: show each row's p50 ratio to it; more than 10 % slower is marked a regression."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON on stdout (progress and tables go to stderr)."),
    device: str = typer.Option(default(BenchOptions, "device"), "--device", help="host, or adb[:SERIAL] to time on an Android phone with the runtime's own benchmark tool."),
    tool: Optional[str] = typer.Option(None, "--tool", help="With --device adb: the benchmark binary to push (benchmark_model, executor_runner, onnxruntime_perf_test), or 'app' for the android_demo benchmark activity. Default: $EDGEKIT_TOOLS/android/<abi>/."),
    write: bool = typer.Option(default(BenchOptions, "write"), "--write/--no-write", help="Merge the rows into bench.json and bench.csv in the export folder."),
    wide: bool = typer.Option(False, "--wide", help="Show every column (p99, mean±std, cpu/wall, load+first, RSS, size, top-1 interval, runtime) instead of the few read first; bench.csv and --json hold them all."),
) -> None:
    """Time every artifact in its own runtime (load, first inference, p50/p90/p99...) against PyTorch eager fp32 at the same threads."""
    from edgekit.bench.api import bench
    from edgekit.bench.options import BenchOptions

    options = BenchOptions(threads=threads, iterations=iterations, seconds=seconds, warmup=warmup, rounds=rounds,
                           device=device, tool=tool, data=data, budget_ms=budget_ms, compare=compare, write=write)
    result, out = render.run_stage(bench, path, options, as_json)
    if result.json_path is not None:
        render.err().print(f"wrote {result.json_path} and {result.csv_path}", soft_wrap=True, markup=False)
    notes = render.Footnotes()
    out.print(wide_table(result, notes) if wide else rows_table(result, notes))
    notes.print(out)
    if result.comparisons is not None:
        out.print(compare_table(result.comparisons, compare))
    if result.budget is not None:
        out.print(budget_line(result.budget), soft_wrap=True, highlight=False)
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in result.rows], indent=2))


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _label(row) -> str:
    return "pytorch eager" if row.format == "pytorch" else f"{row.format}-{row.precision}"


def _title(result) -> str:
    host = result.host
    where = f"{host['cpu']}, {host['cores']} cores" if result.options.is_host else result.options.device
    return f"{', '.join(result.models)} on {where} (batch 1, ms)"


def _status(row, notes: render.Footnotes) -> str:
    """ok, or the status with a footnote for its reason (unreliable rows are ok rows with a reason)."""
    if row.status == "ok" and not row.reason:
        return "ok"
    word = ("[yellow]unreliable[/]" if row.status == "ok" and row.wide_spread else
            "ok" if row.status == "ok" else f"[red]{row.status}[/]")
    # a skipped artifact is skipped at every thread count for the same reason: one footnote for all its rows
    where = "" if row.status == "skipped" else f" at {row.threads} thread(s)"
    return f"{word} {notes.add(f'{_label(row)}{where}: {row.reason}')}"


def rows_table(result, notes: render.Footnotes):
    """The columns a person reads first: artifact, threads, p50, p90, speed-up, status (and top-1 when measured).
    Fits 80 columns; reasons go to footnotes."""
    rows = result.rows
    accuracy = any(r.top1 is not None for r in rows)
    post = any(r.post_p50_ms is not None for r in rows)  # detectors: NMS apart, and mAP
    mean_ap = any(r.map is not None for r in rows)
    columns = ["artifact", ("thr", "right"), ("p50", "right"), ("p90", "right"), ("speed-up", "right"), "status"]
    extra = ([("top-1 %", "right")] if accuracy else []) + ([("NMS", "right")] if post else []) + (
        [("mAP", "right")] if mean_ap else [])
    table = render.table(_title(result), columns + extra)
    for r in rows:
        cells = [_label(r), str(r.threads), _ms(r.p50_ms), _ms(r.p90_ms), f"{r.speedup:.2f}x" if r.speedup else "",
                 _status(r, notes)]
        table.add_row(*cells, *([f"{r.top1:.1f}" if r.top1 is not None else ""] if accuracy else []),
                      *([_ms(r.post_p50_ms)] if post else []),
                      *([f"{r.map:.1f}" if r.map is not None else ""] if mean_ap else []))
    return table


def wide_table(result, notes: render.Footnotes):
    """Every column (`--wide`): wider than 80 columns; cells fold rather than being cut."""
    table = render.table(_title(result), [
        "artifact", ("thr", "right"), ("p50", "right"), ("p90", "right"), ("p99", "right"), ("mean±std", "right"),
        ("speed-up", "right"), ("cpu/wall", "right"), ("load+first", "right"), ("RSS MB", "right"),
        ("size MB", "right"), ("top-1 % [95 %]", "right"), ("NMS p50", "right"), ("mAP", "right"), "runtime",
        "status"])
    for r in result.rows:
        mean = f"{_ms(r.mean_ms)}±{_ms(r.std_ms)}" if r.mean_ms is not None else ""
        top1 = f"{r.top1:.1f} [{r.top1_ci[0]:.1f}, {r.top1_ci[1]:.1f}]" if r.top1 is not None and r.top1_ci else ""
        table.add_row(_label(r), str(r.threads), _ms(r.p50_ms), _ms(r.p90_ms), _ms(r.p99_ms), mean,
                      f"{r.speedup:.2f}x" if r.speedup else "", f"{r.cpu_per_wall:.2f}" if r.cpu_per_wall else "",
                      f"{_ms(r.load_ms)}+{_ms(r.first_ms)}" if r.load_ms is not None else "",
                      f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb else "", f"{r.size_bytes / 1e6:.2f}" if r.size_bytes else "",
                      top1, _ms(r.post_p50_ms), f"{r.map:.1f}" if r.map is not None else "",
                      " ".join(x for x in (r.runtime, r.runtime_version or "") if x), _status(r, notes))
    return table


def compare_table(comparisons, old_path: Path):
    """p50 now against an earlier bench.json; the model and device columns only when there is more than one."""
    models = {c.row.model for c in comparisons}
    devices = {c.row.device for c in comparisons}
    columns = (["model"] if len(models) > 1 else []) + ["artifact", ("thr", "right")] + (
        ["device"] if len(devices) > 1 else []) + [("p50 before", "right"), ("p50 now", "right"), ("ratio", "right"), ""]
    title = f"against {old_path}" + (f" ({next(iter(models))})" if len(models) == 1 else "")
    table = render.table(title, columns)
    for c in comparisons:
        r = c.row
        mark = "[bold red]REGRESSION[/]" if c.regression else ("no earlier row" if c.old_p50_ms is None else "")
        table.add_row(*([r.model] if len(models) > 1 else []), _label(r), str(r.threads),
                      *([r.device] if len(devices) > 1 else []), _ms(c.old_p50_ms), _ms(r.p50_ms),
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
