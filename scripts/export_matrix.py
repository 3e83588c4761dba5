"""Every zoo model through every export format (fp32): which pairs work, and in one line why not; prints the
status table as markdown.

    .venv/bin/python scripts/export_matrix.py [--models a,b] [--out DIR] > table.md

A diagnostic of the converters, not part of the library (edgekit/ holds what users run): the printed table is
what docs/export_matrix.md holds, and tests/test_export_matrix.py imports `export_matrix_row` from this file by
its path and pins the same statuses.

Parity on a random network means little: its outputs barely depend on the image. The weights here are made
non-degenerate on purpose, in seconds and without training (edgekit.models.probe: batch-norm running statistics
re-estimated on real training images, the last layer fitted to the shipped labels by ridge regression). Different
images then give different logits and different top-1 classes, so agreement and cosine measure the converter.
Each artifact that runs here is compared with PyTorch on 32 shipped images.

fp32 only: random features are chaotic, so fp16 rounding moves their logits far more than a trained network's
(PyTorch's own .half() on MobileNetV2: cosine 0.995 on these weights, 0.999999 on a trained run). fp16 and int8
are verified on trained runs (tests/test_export_formats.py, tests/test_int8_export.py).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from edgekit.export.api import export_model
from edgekit.export.options import ExportOptions
from edgekit.export.summary import STATUS_SYMBOLS
from edgekit.formats import FORMATS
from edgekit.models import list_models
from edgekit.models.probe import non_degenerate_weights
from edgekit.preprocess import Preprocessing

MATRIX_IMG_SIZE = 64  # every model accepts it (minimum 32) and the slowest converters stay within minutes
MATRIX_CLASSES = 10  # the shipped data's classes: the head is fitted to them


@dataclass
class MatrixCell:
    model: str
    format: str
    precision: str
    status: str  # an export status (edgekit.export.api.STATUS_SYMBOLS) or "skipped"
    reason: str  # one line: the converter error, the parity failure, or why it was not run
    agreement: float | None
    cosine: float | None
    distinct_top1: int  # how many classes PyTorch's top-1 takes over the parity images


def export_matrix_row(model_name: str, out: Path, *, precisions: Sequence[str] = ("fp32",),
                      formats: Sequence[str] | None = None, img_size: int = MATRIX_IMG_SIZE,
                      parity_size: int = 32) -> list[MatrixCell]:
    """Export one model to every format and precision; every cell says what happened."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights_file = out / f"{model_name}-non-degenerate.pt"
    state = non_degenerate_weights(model_name, img_size)
    torch.save(state, weights_file)
    distinct = _distinct_top1(model_name, state, img_size, parity_size)
    summary = export_model(ExportOptions(model_name, weights=weights_file, num_classes=MATRIX_CLASSES,
                                         img_size=img_size, formats=list(formats) if formats else None,
                                         precisions=list(precisions), out=out / "artifacts", allow_mismatch=True,
                                         parity_size=parity_size))
    cells = []
    for result in summary.results:
        parity = result.parity or {}
        cells.append(MatrixCell(model=model_name, format=result.format, precision=result.precision,
                                status=result.status, reason=result.reason, agreement=parity.get("agreement"),
                                cosine=parity.get("cosine"), distinct_top1=distinct))
    return cells


def _distinct_top1(model_name: str, state: dict, img_size: int, parity_size: int) -> int:
    """How many classes PyTorch's top-1 takes over export's own parity images (same seeded sample)."""
    from edgekit.export.verify import parity_images
    from edgekit.models import create_model

    model = create_model(model_name, num_classes=MATRIX_CLASSES)
    model.load_state_dict(state)
    data = parity_images(Preprocessing(img_size=img_size), [], val_dir=None, checkpoint=None, num_images=parity_size)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(data.images))
    return len(set(logits.argmax(dim=1).tolist()))


def cell_text(cell) -> str:
    symbol = STATUS_SYMBOLS[cell.status]
    if cell.status == "verified":
        return f"{symbol} agreement {cell.agreement:.0%}, cosine {cell.cosine:.6f}"
    if cell.status == "exported, not run here":
        return f"{symbol} exported, structure checked; not run (Apple only)"
    return f"{symbol} {cell.status}: {cell.reason}"


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--models", default=",".join(list_models("classification")), help="comma-separated model names (default: all)")
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
