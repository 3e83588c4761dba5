"""`edgekit quantize`: int8 accuracy of a trained run, per-layer sensitivity and QAT fine-tuning.

Parses the flags into the options objects of edgekit.quantize.options, runs the stage functions
(edgekit.quantize.report, edgekit.quantize.qat) and renders what they return. The int8 artifacts themselves come
from `edgekit export --int8`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgekit.cli import render
from edgekit.cli.defaults import default
from edgekit.quantize import DEFAULT_CALIBRATION_IMAGES
from edgekit.quantize.options import PtqOptions, QatOptions, SensitivityOptions

METHOD_HELP = ("Activation range estimation: minmax, moving_average, histogram (all formats); ONNX Runtime also "
               "offers entropy, percentile, distribution. See docs/quantization.md.")


def quantize_command(
    checkpoint_or_run: Path = typer.Argument(..., metavar="CHECKPOINT", help="An edgekit checkpoint (RUN/best.pt) or a run directory (its best.pt is used)."),
    sensitivity: bool = typer.Option(False, "--sensitivity", help="Quantize one conv/linear layer at a time and rank the layers by how much int8 moves the logits; writes sensitivity.json and sensitivity.png."),
    qat: bool = typer.Option(False, "--qat", help="Quantization-aware fine-tuning (PT2E QAT) from the checkpoint on the run's training split; writes qat.pt, exportable with `edgekit export MODEL --checkpoint RUN/qat.pt --int8`."),
    epochs: int = typer.Option(default(QatOptions, "epochs"), "--epochs", help="--qat: fine-tuning epochs (short: the weights only adapt to int8)."),
    lr: float = typer.Option(default(QatOptions, "lr"), "--lr", help="--qat: learning rate (SGD with momentum 0.9); keep it small."),
    batch_size: int = typer.Option(default(QatOptions, "batch_size"), "--batch-size", help="--qat: training batch size."),
    max_train_images: Optional[int] = typer.Option(None, "--max-train-images", help="--qat: fine-tune on a seeded, class-balanced subset of this many training images (default: the whole training split)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where sensitivity.json/.png and qat.pt go. Default: the checkpoint's run directory."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images (class folders or flat, recursive). Default: as `edgekit export --int8`: a seeded sample of the run's training split (the shipped calibration/ set when the run's splits are gone)."),
    calib_size: int = typer.Option(DEFAULT_CALIBRATION_IMAGES, "--calib-size", help="Number of calibration images (1 to 5000; all if fewer exist)."),
    method: str = typer.Option(default(PtqOptions, "method"), "--method", help=METHOD_HELP),
    eval_size: int = typer.Option(default(SensitivityOptions, "eval_size"), "--eval-size", help="--sensitivity: validation images the logits are compared on (seeded sample)."),
    max_layers: Optional[int] = typer.Option(None, "--max-layers", help="--sensitivity: only the first N conv/linear layers (in model order)."),
    worst: int = typer.Option(default(SensitivityOptions, "worst"), "--worst", help="--sensitivity: layers shown in the table and the plot."),
) -> None:
    """Check how a trained model survives int8 (fp32 vs PT2E int8 top-1 on the validation split), rank its layers by int8 sensitivity, or fine-tune it with QAT."""
    from edgekit.quantize.options import PtqOptions, QatOptions, SensitivityOptions

    common = dict(checkpoint=checkpoint_or_run, calib=calib, calib_size=calib_size, method=method)
    # every option object is made (and so checked) before any slow work starts
    qat_options = QatOptions(**common, epochs=epochs, lr=lr, batch_size=batch_size, max_train_images=max_train_images,
                             out=out) if qat else None
    sensitivity_options = SensitivityOptions(**common, eval_size=eval_size, max_layers=max_layers, worst=worst,
                                             out=out) if sensitivity else None
    ptq_options = PtqOptions(**common) if not (qat or sensitivity) else None
    if qat_options:
        from edgekit.quantize.qat import quantization_aware_finetune

        with render.ProgressDisplay() as display:
            result = quantization_aware_finetune(qat_options, on_progress=display)
        show_qat(result)
    if sensitivity_options:
        from edgekit.quantize.report import sensitivity_report

        with render.ProgressDisplay() as display:
            report = sensitivity_report(sensitivity_options, on_progress=display)
        show_sensitivity(report, worst)
    if ptq_options:
        from edgekit.quantize.report import ptq_report

        with render.ProgressDisplay() as display:
            report = ptq_report(ptq_options, on_progress=display)
        show_ptq(report)


def show_ptq(report) -> None:
    out = render.out()
    out.print(f"{report.model_name}: validation top-1 on {report.val_images} images, evaluated in PyTorch", markup=False)
    table = render.table(None, ["model", ("top-1", "right")])
    for row in report.rows:
        table.add_row(row.model, render.percent(row.top1))
    out.print(table)
    out.print(f"int8 calibrated with {report.method} on {report.calibration}", markup=False)


def show_sensitivity(report, worst: int) -> None:
    out = render.out()
    table = render.table("int8 sensitivity (one layer quantized, rest float), worst first",
                         [("#", "right"), "layer", "op", ("agree", "right"), ("cosine", "right"),
                          ("drop pts", "right")])
    for index, row in enumerate(report.rows[:worst] if worst else report.rows, 1):
        drop = "-" if row.top1_drop is None else f"{row.top1_drop:+.1f}"
        table.add_row(str(index), row.name, row.op, render.percent(row.agreement), f"{row.cosine:.5f}", drop)
    out.print(table)
    out.print(f"agree: top-1 unchanged by int8 in that layer; cosine: of the logits; drop: top-1 points lost. "
              f"{report.eval_images} validation images, {report.calibration_images} calibration images "
              f"({report.method}).", markup=False)
    out.print(f"wrote {report.json_path} and {report.png_path}", markup=False, soft_wrap=True)
    out.print("to keep the worst layers in float:", markup=False)
    out.print(f"  {report.keep_float_command()}", markup=False, soft_wrap=True)  # one line to copy


def show_qat(result) -> None:
    out = render.out()
    out.print(f"QAT: validation top-1 on {result.val_images} images, evaluated in PyTorch", markup=False)
    table = render.table(None, ["model", ("top-1", "right")])
    for name, value in result.rows():
        table.add_row(name, render.percent(value))
    out.print(table)
    out.print(f"PTQ calibrated with {result.method} on {result.calibration}", markup=False)
    out.print(f"wrote {result.checkpoint}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("quantize")(quantize_command)
