"""Export every zoo model to every format (fp32) and print the status table as markdown.

    .venv/bin/python scripts/export_matrix.py [--models a,b] [--out DIR] > table.md

The weights are made non-degenerate without training (edgekit/export/matrix.py); each artifact
that runs here is compared with PyTorch on 32 shipped images. The printed table is what
docs/export_matrix.md holds; tests/test_export_matrix.py pins the same statuses.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path

from edgekit.export.summary import STATUS_SYMBOLS
from edgekit.formats import FORMATS
from edgekit.export.matrix import MATRIX_IMG_SIZE, export_matrix_row
from edgekit.models import list_models


def cell_text(cell) -> str:
    symbol = STATUS_SYMBOLS[cell.status]
    if cell.status == "verified":
        return f"{symbol} agreement {cell.agreement:.0%}, cosine {cell.cosine:.6f}"
    if cell.status == "exported, not run here":
        return f"{symbol} exported, structure checked; not run (Apple only)"
    return f"{symbol} {cell.status}: {cell.reason}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(list_models()), help="comma-separated model names (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="where artifacts go (default: a temporary folder)")
    args = parser.parse_args()
    models = args.models.split(",")
    header = "| model | " + " | ".join(FORMATS) + " | distinct top-1 | seconds |"
    lines = [f"fp32, {MATRIX_IMG_SIZE} px, 10 classes; {datetime.date.today()}, {platform.machine()}",
             "", header, "|" + "---|" * (len(FORMATS) + 3)]
    with tempfile.TemporaryDirectory() as scratch:
        for name in models:
            started = time.perf_counter()
            print(f"exporting {name}...", file=sys.stderr, flush=True)
            cells = {c.format: c for c in export_matrix_row(name, args.out or Path(scratch) / name)}
            seconds = time.perf_counter() - started
            distinct = next(iter(cells.values())).distinct_top1
            lines.append(f"| {name} | " + " | ".join(cell_text(cells[f]) for f in FORMATS)
                         + f" | {distinct} of 10 | {seconds:.0f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
