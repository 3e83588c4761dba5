"""What a newcomer sees at 80 columns (issue 25), through the entry point: help in the usual form (MODEL, bare
flags, nothing cut), tables no cell of which is cut with "…" and no line of which is wider than the terminal,
and no library chatter on the console (the runtimes' output goes to the stage's log)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import typer

WIDTH = 80
CUT = "…"  # rich's mark for a cell it had to cut


def _groups_and_commands() -> list[list[str]]:
    from edgekit.cli.main import app

    found = []

    def walk(command, path):
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def _readable(text: str, what: str) -> None:
    assert CUT not in text, f"{what}: a cell was cut at {WIDTH} columns:\n{text}"
    wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not wide, f"{what}: lines wider than {WIDTH} columns:\n" + "\n".join(wide)


@pytest.mark.parametrize("path", _groups_and_commands(), ids=lambda p: " ".join(p) or "edgekit")
def test_help_reads_at_80_columns_in_the_usual_form(path, capsys, monkeypatch):
    from edgekit.cli.main import main

    monkeypatch.setenv("COLUMNS", str(WIDTH))
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0
    _readable(text, f"edgekit {' '.join(path)} --help")
    usage = next(line for line in text.splitlines() if "Usage:" in line).strip()
    assert "{" not in usage and "<bool>" not in text, usage
    # arguments in capitals, as other tools write them: edgekit export [OPTIONS] MODEL
    words = usage.split()[usage.split().index("[OPTIONS]") + 1:]
    assert all(re.fullmatch(r"\[?[A-Z_]+\]?(\.\.\.)?", word) for word in words), usage


def test_a_flag_stands_bare_and_an_argument_is_named_in_capitals(capsys, monkeypatch):
    from edgekit.cli.main import main

    monkeypatch.setenv("COLUMNS", str(WIDTH))
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = capsys.readouterr().out
    assert "Usage: edgekit export [OPTIONS] MODEL" in text
    assert re.search(r"--fp16\s+Also export fp16", text), text  # no type between a flag and its help
    assert re.search(r"--img-size\s+<int>", text)  # an option with a value keeps its type


def test_the_export_table_reads_at_80_columns(exported_mobilenet_v2):
    """The export table of the session's real export (int8 rows with float-op and delegation notes), drawn at 80
    columns: it may wrap inside cells but never cuts one; long notes are numbered footnotes."""
    from rich.console import Console

    from edgekit.cli.export_cmd import summary_table
    from edgekit.export.summary import ArtifactResult, ExportSummary, read_summary

    data = read_summary(exported_mobilenet_v2)
    results = [ArtifactResult(r["format"], r["precision"], r["status"], size_bytes=r.get("size_bytes"),
                              parity=r.get("parity"), reason=r.get("reason", ""),
                              extra={k: r[k] for k in ("integer", "delegation") if r.get(k)})
               for r in data["artifacts"]]
    summary = ExportSummary(data["model"], exported_mobilenet_v2, "checkpoint", results, data["parity_images"])
    table, footnotes = summary_table(summary)
    console = Console(width=WIDTH, record=True, file=open(os.devnull, "w"))
    console.print(table)
    text = console.export_text()
    _readable(text, "export table")
    assert all(f"{r.format}-{r.precision}" in text for r in results)
    assert footnotes and all(f"[{n}]" in text for n in range(1, len(footnotes) + 1))


@pytest.fixture(scope="module")
def bench_80(exported_mobilenet_v2, tmp_path_factory):
    """`edgekit bench` with its default timing at 80 columns, on a copy holding two artifacts (LiteRT prints on
    stderr when it loads one; ONNX Runtime does not)."""
    export = tmp_path_factory.mktemp("bench80") / "mobilenet_v2"
    for name in ("tflite-int8", "onnx-fp32"):
        shutil.copytree(exported_mobilenet_v2 / name, export / name)
    env = {**os.environ, "COLUMNS": str(WIDTH)}
    done = subprocess.run([sys.executable, "-m", "edgekit.cli.main", "bench", str(export), "--threads", "1"],
                          capture_output=True, text=True, timeout=900, env=env)
    return export, done


def test_bench_prints_a_readable_table_and_nothing_from_the_libraries(bench_80):
    export, done = bench_80
    assert done.returncode == 0, done.stderr[-3000:]
    _readable(done.stdout, "bench table")
    for name in ("tflite-int8", "onnx-fp32", "pytorch eager"):
        assert name in done.stdout
    # stderr holds edgekit's own line and nothing else: the runtimes' output went to bench.log
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        f"wrote {export / 'bench.json'} and {export / 'bench.csv'}"], done.stderr
    log = (export / "bench.log").read_text()
    assert "TensorFlow Lite" in log, "LiteRT's own line is expected in bench.log (it is what kept the console clean)"


def test_the_default_timing_is_long_enough_for_the_thread_check(bench_80):
    """Without --iterations or --seconds each round's block is grown until its timed loop lasts 50 ms, so no row
    is unreliable for being too short to check thread use (the demo's 64 px model was, at 24.5 ms)."""
    from edgekit.bench.host import MIN_ROUND_S
    from edgekit.bench.options import DEFAULT_ITERATIONS

    export, _ = bench_80
    rows = json.loads((export / "bench.json").read_text())["rows"]
    assert len(rows) == 3
    for row in rows:
        assert row["status"] == "ok", row
        assert "too short to check thread use" not in (row["reason"] or ""), row["reason"]
        assert row["iterations"] >= DEFAULT_ITERATIONS and row["extra"]["rounds"] == 5
        timed_s = row["mean_ms"] * row["iterations"] / 1000.0  # the sum of the timed calls, below the loop's wall
        assert timed_s >= 0.5 * MIN_ROUND_S * row["extra"]["rounds"], row  # the old default: 10-20 ms a round here
