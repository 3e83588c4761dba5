"""`edgekit quantize`: int8 accuracy of a trained run, per-layer sensitivity and QAT fine-tuning.

A thin layer over edgekit.quantize; the int8 artifacts themselves come from `edgekit export --int8`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from edgekit.errors import EdgekitError
from edgekit.quantize import DEFAULT_CALIBRATION_IMAGES

console = Console()
METHOD_HELP = ("Activation range estimation: minmax, moving_average, histogram (all formats); ONNX Runtime also "
               "offers entropy, percentile, distribution. See docs/quantization.md.")


def resolve_checkpoint(path: Path) -> Path:
    """A run directory means its best.pt."""
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise EdgekitError(f"checkpoint not found: {path} (give RUN/best.pt or a run directory)")
    return path


def quantize_command(
    checkpoint_or_run: Path = typer.Argument(..., help="An edgekit checkpoint (RUN/best.pt) or a run directory (its best.pt is used)."),
    sensitivity: bool = typer.Option(False, "--sensitivity", help="Quantize one conv/linear layer at a time and rank the layers by how much int8 moves the logits; writes sensitivity.json and sensitivity.png."),
    qat: bool = typer.Option(False, "--qat", help="Quantization-aware fine-tuning (PT2E QAT) from the checkpoint on the run's training split; writes qat.pt, exportable with `edgekit export MODEL --checkpoint RUN/qat.pt --int8`."),
    epochs: int = typer.Option(2, "--epochs", help="--qat: fine-tuning epochs (short: the weights only adapt to int8)."),
    lr: float = typer.Option(1e-4, "--lr", help="--qat: learning rate (SGD with momentum 0.9); keep it small."),
    batch_size: int = typer.Option(32, "--batch-size", help="--qat: training batch size."),
    max_train_images: Optional[int] = typer.Option(None, "--max-train-images", help="--qat: fine-tune on a seeded, class-balanced subset of this many training images (default: the whole training split)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where sensitivity.json/.png and qat.pt go. Default: the checkpoint's run directory."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images (class folders or flat, recursive). Default: as `edgekit export --int8`: a seeded sample of the run's training split (the shipped calibration/ set when the run's splits are gone)."),
    calib_size: int = typer.Option(DEFAULT_CALIBRATION_IMAGES, "--calib-size", help="Number of calibration images (1 to 5000; all if fewer exist)."),
    method: str = typer.Option("minmax", "--method", help=METHOD_HELP),
    eval_size: int = typer.Option(200, "--eval-size", help="--sensitivity: validation images the logits are compared on (seeded sample)."),
    max_layers: Optional[int] = typer.Option(None, "--max-layers", help="--sensitivity: only the first N conv/linear layers (in model order)."),
    worst: int = typer.Option(20, "--worst", help="--sensitivity: layers shown in the table and the plot."),
) -> None:
    """Check how a trained model survives int8 (fp32 vs PT2E int8 top-1 on the validation split), rank its layers by int8 sensitivity, or fine-tune it with QAT."""
    from edgekit.checkpoint import load_checkpoint
    from edgekit.images import calibration_images
    from edgekit.quantize.calibration import load_calibration_images
    from edgekit.quantize.pt2e import activation_observer

    activation_observer(method)  # an unknown method fails here, before any slow work
    path = resolve_checkpoint(checkpoint_or_run)
    checkpoint = load_checkpoint(path)
    # the same calibration images as `edgekit export --int8` of this checkpoint: --calib, else the run's training split
    choice = calibration_images(calib, path, "checkpoint", calib_size, seed=0)
    calibration = load_calibration_images(checkpoint.preprocessing, paths=choice.paths)
    out_dir = out or path.parent
    if qat or sensitivity:  # only once the inputs are known to be good, before any slow work
        from edgekit.fileio import writable_folder

        writable_folder(out_dir, "--out")
    if qat:
        run_qat(path, calibration, epochs, lr, batch_size, max_train_images, out_dir, method)
    if sensitivity:
        run_sensitivity(path, checkpoint, calibration, eval_size, max_layers, worst, out_dir, method)
    if not (qat or sensitivity):
        run_ptq_report(path, checkpoint, calibration, method)


def validation_batch(path: Path, checkpoint, limit: int | None = None, seed: int = 0):
    import numpy as np

    from edgekit.images import seeded_sample
    from edgekit.rundir import run_or_sample_splits

    samples = seeded_sample(run_or_sample_splits(path).splits.val, limit or None, seed)
    return checkpoint.preprocessing.load_batch([p for p, _ in samples]), np.array([label for _, label in samples])


def run_ptq_report(path: Path, checkpoint, calibration, method: str) -> None:
    import torch

    from edgekit.quantize.pt2e import litert_quantizer, quantize_pt2e, run_graph, xnnpack_quantizer
    from edgekit.quantize.qat import EVAL_BATCH, top1

    images, labels = validation_batch(path, checkpoint)
    model = checkpoint.build_model()
    example = torch.zeros(EVAL_BATCH, *images.shape[1:])
    table = Table(title=f"{checkpoint.model_name}: validation top-1 ({len(labels)} images), evaluated in PyTorch")
    for column in ("model", "top-1"):
        table.add_column(column)
    table.add_row("fp32", f"{100 * top1(run_graph(model, images, EVAL_BATCH), labels):.1f} %")
    for name, factory in (("int8 PT2E, XNNPACK quantizer (ExecuTorch)", xnnpack_quantizer),
                          ("int8 PT2E, litert-torch quantizer (TFLite)", litert_quantizer)):
        graph = quantize_pt2e(model, example, factory(method), calibration)
        table.add_row(f"{name}, {method}", f"{100 * top1(run_graph(graph, images, EVAL_BATCH), labels):.1f} %")
    console.print(table)


def run_sensitivity(path: Path, checkpoint, calibration, eval_size: int, max_layers, worst: int, out_dir: Path,
                    method: str) -> None:
    import torch

    from edgekit.quantize.sensitivity import (layer_sensitivity, plot_sensitivity, save_sensitivity_json,
                                              sensitivity_table)

    images, labels = validation_batch(path, checkpoint, eval_size)
    rows = layer_sensitivity(checkpoint.build_model(), torch.from_numpy(images[:1]), calibration, images, labels,
                             max_layers=max_layers, method=method)
    console.print(sensitivity_table(rows, worst))
    json_path = save_sensitivity_json(rows, out_dir / "sensitivity.json", checkpoint=str(path.resolve()),
                                      model=checkpoint.model_name, eval_images=len(labels), calibration_images=len(calibration),
                                      method=method, quantizer="torchao PT2E + XNNPACKQuantizer, one layer at a time")
    png_path = plot_sensitivity(rows, out_dir / "sensitivity.png", worst)
    keep = ",".join(row.name for row in rows[:3])
    console.print(f"wrote {json_path} and {png_path}\nto keep the worst layers in float: "
                  f"edgekit export {checkpoint.model_name} --checkpoint {path} --int8 --keep-float {keep}")


def run_qat(path: Path, calibration, epochs: int, lr: float, batch_size: int, max_train_images, out_dir: Path,
            method: str) -> None:
    from edgekit.quantize.qat import quantization_aware_finetune

    result = quantization_aware_finetune(path, calibration, epochs=epochs, lr=lr, batch_size=batch_size,
                                         out=out_dir / "qat.pt", max_train_images=max_train_images, method=method)
    table = Table(title=f"validation top-1 ({result.val_images} images), evaluated in PyTorch; PTQ calibrated with {method}")
    table.add_column("model")
    table.add_column("top-1")
    for name, value in (("fp32 (checkpoint)", result.fp32_top1), ("int8 PTQ of the checkpoint", result.ptq_top1),
                        ("int8 QAT graph, converted", result.qat_top1), ("int8 PTQ of qat.pt (what export ships)", result.qat_ptq_top1)):
        table.add_row(name, f"{100 * value:.1f} %")
    console.print(table)
    console.print(f"wrote {result.checkpoint}")


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize_command)
