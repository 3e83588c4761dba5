"""Every zoo model through every export format: which pairs work, and in one line why not.

Parity on a random network means little: its outputs barely depend on the image. The weights
here are made non-degenerate on purpose, in seconds and without training: batch-norm running
statistics are re-estimated on real training images, and the last layer is fitted to the shipped
labels by ridge regression (a linear probe on the random features). Different images then give
different logits and different top-1 classes, so agreement and cosine measure the converter.

fp32 only: random features are chaotic, so fp16 rounding moves their logits far more than a
trained network's (PyTorch's own .half() on MobileNetV2: cosine 0.995 on these weights, 0.999999
on a trained run). fp16 and int8 are verified on trained runs (tests/test_export_formats.py,
tests/test_int8_export.py). `scripts/export_matrix.py` writes docs/export_matrix.md;
tests/test_export_matrix.py pins the statuses.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from edgekit.export.api import export_model
from edgekit.export.options import ExportOptions
from edgekit.models.probe import non_degenerate_weights
from edgekit.formats import FORMATS
from edgekit.paths import SAMPLE_DATA_DIR
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
