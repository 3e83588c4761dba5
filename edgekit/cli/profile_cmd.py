"""`edgekit profile PATH`: where each artifact's time goes, per op type, fp32 beside int8, in its own runtime.

Parses the flags into edgekit.profile.ProfileOptions (which checks them), runs edgekit.profile.profile and renders
its result at 80 columns: one table per format (op types, fp32 ms beside int8 ms), then the sum of op times
against the whole run and bench.json's p50 per artifact; notes as footnotes. profile.json carries every layer.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from edgekit.cli import render
from edgekit.cli.defaults import default
from edgekit.profile_data import ProfileOptions

TOP_KINDS = 12  # op types shown per format; the rest are summed in one line


def profile_command(
    path: Path = typer.Argument(..., help="An export folder (OUT/<model>/ from `edgekit export`) or one artifact folder; every manifest's sha256 is checked before use."),
    threads: int = typer.Option(default(ProfileOptions, "threads"), "--threads", help="Threads, pinned in every runtime as bench pins them."),
    runs: int = typer.Option(default(ProfileOptions, "runs"), "--runs", help="Profiled iterations; each op's median over them is used."),
    warmup: int = typer.Option(default(ProfileOptions, "warmup"), "--warmup", help="Iterations before profiling, not recorded."),
    layers: int = typer.Option(0, "--layers", help="Also list each timed artifact's N slowest layers with the PyTorch module each came from (profile.json holds them all)."),
    write: bool = typer.Option(default(ProfileOptions, "write"), "--write/--no-write", help="Write profile.json into the export folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON on stdout (tables go to stderr)."),
) -> None:
    """Time each artifact's ops in its own runtime (ORT's profiler, ETDump; LiteRT: op counts), per op type and layer, fp32 beside int8."""
    from edgekit.profile import ProfileOptions, profile

    if layers < 0:
        from edgekit.errors import EdgekitError

        raise EdgekitError(f"--layers must be at least 0, got {layers}")
    options = ProfileOptions(threads=threads, runs=runs, warmup=warmup, write=write)
    result, out = render.run_stage(profile, path, options, as_json)
    if result.json_path is not None:
        render.err().print(f"wrote {result.json_path}", soft_wrap=True, markup=False)
    notes = render.Footnotes()
    options = result.options
    out.print(f"{result.host.get('cpu', 'this host')}, {options.threads} thread(s): median of {options.runs} runs "
              f"after {options.warmup} warm-up", soft_wrap=True, markup=False)
    for table in op_tables(result.artifacts, notes):
        out.print(table)
    out.print(totals_table(result.artifacts, notes))
    if layers > 0:
        for entry in result.artifacts:
            if entry.status == "ok":
                out.print(layers_table(entry, layers))
    if result.bench_note:
        notes.add(result.bench_note)
    notes.print(out)
    if as_json:
        typer.echo(json.dumps([a.to_dict() for a in result.artifacts], indent=2))


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def op_tables(entries, notes: render.Footnotes) -> list:
    """Integer kernels are counted under the float op they compute (edgekit.profile.op_family). Per format: op types, fp32 ms (share) beside int8 ms (share); formats without op times list counts."""
    from edgekit.profile import op_family

    tables = []
    formats = list(dict.fromkeys(e.format for e in entries if e.status in ("ok", "counts-only")))
    for fmt in formats:
        by_precision = {e.precision: e for e in entries if e.format == fmt and e.status in ("ok", "counts-only")}
        precisions = [p for p in ("fp32", "fp16", "int8") if p in by_precision]
        timed = any(by_precision[p].status == "ok" for p in precisions)
        kinds: dict[str, dict[str, tuple]] = {}
        renamed: set[str] = set()
        for precision in precisions:
            for op in by_precision[precision].op_types:
                family = op_family(fmt, op.op_type)
                ms, count = kinds.setdefault(family, {}).get(precision, (None, 0))
                kinds[family][precision] = (None if op.ms is None else (ms or 0.0) + op.ms, count + op.count)
                if family != op.op_type:
                    renamed.add(f"{op.op_type} as {family}")
        ordered = sorted(kinds, key=lambda k: (-max((v[0] or 0.0) for v in kinds[k].values()),
                                               -max(v[1] for v in kinds[k].values()), k))
        unit = "ms per run" if timed else "op counts"
        title = f"{fmt}: {unit} by op type"
        columns = ["op type"]
        for precision in precisions:
            columns += [(f"{precision} ms", "right"), ("%", "right"), ("n", "right")] if timed else [
                (f"{precision} n", "right")]
        table = render.table(title, columns)
        for kind in ordered[:TOP_KINDS]:
            cells = [kind]
            for precision in precisions:
                ms, count = kinds[kind].get(precision, (None, None))
                total = by_precision[precision].ops_ms
                share = f"{100 * ms / total:.0f}" if ms is not None and total else ""
                cells += [_ms(ms), share, "" if count is None else str(count)] if timed else [
                    "" if count is None else str(count)]
            table.add_row(*cells)
        rest = ordered[TOP_KINDS:]
        if rest:
            cells = [f"({len(rest)} more)"]
            for precision in precisions:
                values = [kinds[k][precision] for k in rest if precision in kinds[k]]
                ms = sum(v[0] or 0.0 for v in values)
                total = by_precision[precision].ops_ms
                cells += [_ms(ms), f"{100 * ms / total:.0f}" if total else "", str(sum(v[1] for v in values))] \
                    if timed else [str(sum(v[1] for v in values))]
            table.add_row(*cells)
        untimed = [by_precision[p] for p in precisions if by_precision[p].status == "counts-only"]
        if untimed:
            table.caption = f"op times: {notes.add(untimed[0].reason or 'not available')}"
        elif renamed:
            table.caption = (f"integer kernels under their float op "
                             f"{notes.add(f'{fmt}: ' + ', '.join(sorted(renamed)) + ' (profile.json keeps the names)')}")
        tables.append(table)
    return tables


def totals_table(entries, notes: render.Footnotes):
    """Per artifact: the sum of op times, the whole run's median, bench.json's p50 and the ratios."""
    table = render.table("op times against the whole run (ms)", [
        "artifact", ("ops", "right"), ("run p50", "right"), ("ops/run", "right"), ("bench p50", "right"),
        ("ops/bench", "right"), "status"])
    for e in entries:
        if e.status == "ok":
            status = "ok" if not e.flag else f"[yellow]> 20 % apart[/] {notes.add(f'{e.artifact}: {e.flag}')}"
        elif e.status == "counts-only":
            status = f"no op times {notes.add(e.reason or '')}"
        else:
            status = f"[red]{e.status}[/] {notes.add(f'{e.artifact}: {e.reason}')}"
        table.add_row(e.artifact, _ms(e.ops_ms), _ms(e.run_ms), f"{e.op_ratio:.2f}" if e.op_ratio else "",
                      _ms(e.bench_p50_ms), f"{e.bench_ratio:.2f}" if e.bench_ratio else "", status)
    return table


def layers_table(entry, count: int):
    """The `count` slowest layers of one artifact: the runtime's name, the module (where known), op type, ms."""
    table = render.table(f"{entry.artifact}: the {count} slowest layers (ms per run)",
                         ["layer", "module", "op type", ("ms", "right")])
    for layer in entry.layers[:count]:
        table.add_row(layer.name, layer.module or "", layer.op_type, _ms(layer.ms))
    if entry.reason and not any(layer.module for layer in entry.layers):
        table.caption = f"modules: {entry.reason}"
    return table


def register(app: typer.Typer) -> None:
    app.command("profile")(profile_command)
