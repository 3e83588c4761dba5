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
from edgekit.export.base import FORMATS
from edgekit.paths import SAMPLE_DATA_DIR
from edgekit.preprocess import Preprocessing

MATRIX_IMG_SIZE = 64  # every model accepts it (minimum 32) and the slowest converters stay within minutes
RIDGE = 1.0  # relative to the features' mean variance
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


def non_degenerate_weights(model_name: str, img_size: int = MATRIX_IMG_SIZE, num_images: int = 300,
                           seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict whose outputs depend on the input (see the module docstring)."""
    from edgekit.data.folder import load_splits
    from edgekit.models import create_model

    torch.manual_seed(seed)
    splits = load_splits(SAMPLE_DATA_DIR)
    model = create_model(model_name, num_classes=len(splits.classes))
    rng = np.random.default_rng(seed)
    picked = [splits.train[i] for i in rng.choice(len(splits.train), size=num_images, replace=False)]
    images = torch.from_numpy(Preprocessing(img_size=img_size).load_batch([path for path, _ in picked]))
    labels = torch.tensor([label for _, label in picked])
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for batch in images.split(32):
            model(batch)
    model.eval()
    _fit_head(model, images, labels, len(splits.classes))
    return model.state_dict()


def _fit_head(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
    """Ridge regression of one-hot labels on the last layer's (spatially pooled) input: a linear probe.

    The last layer is a Linear, or SqueezeNet's 1x1 convolution (pooling after it commutes with it).
    """
    last = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    captured = []
    hook = last.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    with torch.no_grad():
        for batch in images.split(32):
            model(batch)
    hook.remove()
    features = torch.cat([x.mean(dim=(2, 3)) if x.dim() == 4 else x for x in captured]).double()
    mean = features.mean(dim=0)
    centred = features - mean
    targets = 4.0 * nn.functional.one_hot(labels, num_classes).double()  # logit gaps of a few units
    gram = centred.T @ centred
    # The ridge keeps weight off directions the features barely vary in (near-dead channels).
    ridge = RIDGE * torch.trace(gram) / gram.shape[0]
    weight = torch.linalg.solve(gram + ridge * torch.eye(gram.shape[0], dtype=torch.float64), centred.T @ targets).T
    bias = targets.mean(dim=0) - weight @ mean
    with torch.no_grad():
        last.weight.copy_(weight.reshape(last.weight.shape).float())
        if last.bias is not None:
            last.bias.copy_(bias.float())


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
