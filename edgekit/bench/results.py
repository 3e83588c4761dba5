"""bench.json / bench.csv (docs/contracts.md), `--compare OLD.json` and `--budget-ms`.

bench.json merges: rows of this run replace rows with the same key (model, format, precision,
threads, device); other rows (e.g. a phone's, added by the adb path) are kept, so one file holds
host and device rows for `edgekit report`.
"""
from __future__ import annotations

import csv
import io
import json
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edgekit.bench.rows import BENCH_SCHEMA, ROW_FIELDS, BenchRow
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_json, atomic_write_text, read_json_file

BENCH_JSON, BENCH_CSV = "bench.json", "bench.csv"
REGRESSION_TOLERANCE = 0.10  # --compare: p50 more than 10 % slower than before is a regression


def read_bench(path: Path | str) -> tuple[dict, list[BenchRow]]:
    path = Path(path)
    document = read_json_file(path)
    if not isinstance(document, dict) or document.get("schema") != BENCH_SCHEMA or not isinstance(document.get("rows"), list):
        raise EdgekitError(f"{path} is not an {BENCH_SCHEMA} file (bench.json from `edgekit bench`)")
    if not isinstance(document.get("host", {}), dict):
        raise EdgekitError(f"{path}: 'host' must be an object")
    budget = document.get("budget")
    if budget is not None:
        ms = budget.get("ms") if isinstance(budget, dict) else budget
        if not (isinstance(ms, (int, float)) and not isinstance(ms, bool) and 0 < ms < float("inf")) or (
                isinstance(budget, dict) and not isinstance(budget.get("artifact"), (str, type(None)))):
            raise EdgekitError(f"{path}: 'budget' must be a number of milliseconds or {{ms, artifact}}")
    return document, [BenchRow.from_dict(row, f"{path}: rows[{index}]") for index, row in enumerate(document["rows"])]


def merge_rows(old: list[BenchRow], new: list[BenchRow]) -> list[BenchRow]:
    keys = {row.key for row in new}
    return [row for row in old if row.key not in keys] + list(new)


def csv_text(rows: list[BenchRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ROW_FIELDS)
    for row in rows:
        values = row.to_dict()
        writer.writerow(["" if values[f] is None else json.dumps(values[f]) if isinstance(values[f], (list, dict))
                         else values[f] for f in ROW_FIELDS])
    return buffer.getvalue()


def write_bench(export_dir: Path, rows: list[BenchRow], host: dict, command: str | None = None) -> tuple[Path, Path]:
    """Merge `rows` into export_dir/bench.json and rewrite bench.csv (both atomically)."""
    from edgekit import __version__

    json_path, csv_path = export_dir / BENCH_JSON, export_dir / BENCH_CSV
    old = read_bench(json_path)[1] if json_path.exists() else []
    merged = merge_rows(old, rows)
    document = {"schema": BENCH_SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "edgekit": __version__, "host": host,
                "command": command or " ".join(shlex.quote(a) for a in ["edgekit", *sys.argv[1:]]),
                "rows": [row.to_dict() for row in merged]}
    atomic_write_json(json_path, document)
    atomic_write_text(csv_path, csv_text(merged))
    return json_path, csv_path


@dataclass
class Comparison:
    row: BenchRow
    old_p50_ms: float | None
    ratio: float | None  # new p50 / old p50 (> 1: slower)
    regression: bool


def compare_rows(rows: list[BenchRow], old_rows: list[BenchRow], tolerance: float = REGRESSION_TOLERANCE) -> list[Comparison]:
    """Each row's p50 against the same key's in an earlier run; slower by more than `tolerance` is a regression."""
    old = {row.key: row for row in old_rows if row.status == "ok" and row.p50_ms}
    result = []
    for row in rows:
        before = old.get(row.key)
        if before is None or row.status != "ok" or not row.p50_ms:
            result.append(Comparison(row, before.p50_ms if before else None, None, False))
            continue
        ratio = row.p50_ms / before.p50_ms
        result.append(Comparison(row, before.p50_ms, ratio, ratio > 1.0 + tolerance))
    return result


@dataclass
class BudgetAnswer:
    threads: int
    budget_ms: float
    choice: BenchRow | None  # the most accurate row whose p50 fits; None when none fits
    accuracy: float | None
    accuracy_source: str  # "--data <dir>", "the export's parity images", or why accuracy is unknown
    fastest: BenchRow | None  # the fastest row at these threads (for "none fits")
    fitting: int = 0


def pick_for_budget(rows: list[BenchRow], budget_ms: float, threads: int, parity_top1: dict) -> BudgetAnswer:
    """The most accurate row whose p50 fits the budget (ties: the faster). Accuracy is the row's top1
    (measured with --data) when present, else the export's parity figure (`parity_top1`: row key ->
    (top1 %, images)) — never a mix of the two within one answer."""
    timed = [r for r in rows if r.status == "ok" and r.p50_ms is not None and r.threads == threads and r.device == "host"]
    fastest = min(timed, key=lambda r: r.p50_ms, default=None)
    fitting = [r for r in timed if r.p50_ms <= budget_ms]
    if not fitting:
        return BudgetAnswer(threads, budget_ms, None, None, "", fastest)
    value = lambda r: r.top1 if r.top1 is not None else r.map  # a detector's accuracy is its mAP
    measured = all(value(r) is not None for r in fitting)
    accuracy = {r.key: (value(r) if measured else (parity_top1.get(r.key) or (None, ""))[0]) for r in fitting}
    known = [r for r in fitting if accuracy[r.key] is not None]
    if measured:
        source = ("mAP" if fitting[0].map is not None else "top1") + " measured in each runtime on --data"
    elif known:
        images = {parity_top1[r.key][1] for r in known}
        source = f"the export's parity top1 ({'; '.join(sorted(images))})"
    else:
        fastest_fit = min(fitting, key=lambda r: r.p50_ms)
        return BudgetAnswer(threads, budget_ms, fastest_fit, None, "no accuracy known (give --data DIR): the fastest that fits",
                            fastest, len(fitting))
    best = max(known, key=lambda r: (accuracy[r.key], -r.p50_ms))
    return BudgetAnswer(threads, budget_ms, best, accuracy[best.key], source, fastest, len(fitting))
