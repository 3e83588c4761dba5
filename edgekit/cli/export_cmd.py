"""`edgekit export`: a thin layer over edgekit.export.api.export_model with a readable table."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from edgekit.paths import DEFAULT_EXPORT_DIR

console = Console()
if not console.is_terminal:  # a log file or pipe: rich would assume 80 columns and wrap every cell
    console.width = 140


def export_command(
    model: str = typer.Argument(..., help="Architecture name from `edgekit models list`, e.g. mobilenet_v2."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="An edgekit checkpoint (RUN/best.pt); it carries the class count, labels, input size and normalisation. Without it (and without --weights) the architecture is exported with RANDOM weights."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="A bare state dict for the architecture as configured (--num-classes, --img-size)."),
    formats: Optional[str] = typer.Option(None, "--formats", help="Comma-separated: torchscript,onnx,tflite,executorch,coreml. Default: every format that supports the precision(s); an explicit format that cannot export a requested precision is an error."),
    fp16: bool = typer.Option(False, "--fp16", help="Also export fp16 artifacts (fp32 is always exported as the reference)."),
    int8: bool = typer.Option(False, "--int8", help="Also export int8 artifacts, statically quantized on the calibration images."),
    img_size: Optional[int] = typer.Option(None, "--img-size", help="Square input size. Default: the checkpoint's (a different value is an error), else the model's default."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Classes of the architecture without a checkpoint (default 1000)."),
    out: Path = typer.Option(DEFAULT_EXPORT_DIR, "--out", help="Output directory; artifacts go to OUT/<model>/<format>-<precision>/."),
    allow_mismatch: bool = typer.Option(False, "--allow-mismatch", help="Exit 0 even when an artifact failed to export or failed verification (still reported)."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Leave the batch dimension free where the format supports it (ONNX); others stay batch 1."),
    val: Optional[Path] = typer.Option(None, "--val", help="Labelled images (class folder) for the parity check. Default: the checkpoint's run validation split, else the shipped samples."),
    max_drop: float = typer.Option(1.0, "--max-drop", help="Fail an artifact whose top-1 on labelled parity images is more than this many points below PyTorch's."),
    parity_size: int = typer.Option(128, "--parity-size", help="How many parity images (seeded sample)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="int8: calibration images (class folder or flat). Default: the shipped calibration/ set."),
    calib_size: int = typer.Option(200, "--calib-size", help="int8: number of calibration images."),
    calib_method: str = typer.Option("minmax", "--calib-method", help="int8: activation range estimation (see `edgekit quantize --help`)."),
    int8_io: bool = typer.Option(False, "--int8-io", help="int8 TFLite: ask for integer input/output tensors; the manifest records what the converter gave."),
    keep_float: Optional[str] = typer.Option(None, "--keep-float", help="int8: comma-separated layer (module or ONNX node) names to leave in float."),
) -> None:
    """Export MODEL to mobile formats, each artifact verified against PyTorch on real images, with a manifest."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from edgekit.export.api import RANDOM_WEIGHTS_WARNING, ExportFailed, export_model

    precisions = ["fp32"] + (["fp16"] if fp16 else []) + (["int8"] if int8 else [])
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("preparing", total=None)

        def on_stage(message: str) -> None:
            if message.startswith("[bold yellow]warning"):
                progress.console.print(message)
            progress.update(task, description=message)

        summary = export_model(model, checkpoint=checkpoint, weights=weights, formats=formats, precision=precisions,
                               img_size=img_size, num_classes=num_classes, out=out, allow_mismatch=True, dynamic_batch=dynamic_batch,
                               val=val, max_drop=max_drop, calib=calib, calib_size=calib_size,
                               calib_method=calib_method, int8_io=int8_io, parity_size=parity_size,
                               keep_float=[n.strip() for n in keep_float.split(",") if n.strip()] if keep_float else (),
                               on_stage=on_stage)
    table, footnotes = summary_table(summary)
    console.print(table)
    for number, footnote in enumerate(footnotes, start=1):
        console.print(f"[{number}] {footnote}", markup=False, highlight=False)
    console.print(f"parity images: {summary.parity_images}")
    if summary.random_weights:
        console.print(f"[bold yellow]warning:[/] {RANDOM_WEIGHTS_WARNING}")
    console.print(f"artifacts and manifests: {summary.folder}  (summary.json)")
    if summary.failures:
        if not allow_mismatch:
            raise ExportFailed(summary)
        console.print(f"[yellow]{len(summary.failures)} artifact(s) failed; exit 0 because of --allow-mismatch[/]")


def summary_table(summary) -> tuple[Table, list[str]]:
    """The table, and the footnotes its notes column points to (long reasons would wrap the table)."""
    table = Table(title=f"edgekit export {summary.model_name}")
    for column in ("", "format", "precision", "size", "agreement", "cosine", "top-1 (pt → art.)", "export s", "notes"):
        table.add_column(column, justify="right" if column in ("size", "agreement", "cosine", "export s") else "left")
    footnotes: list[str] = []
    for result in summary.results:
        parity = result.parity or {}
        agreement = "not run" if parity.get("status") == "not run" else _fraction(parity.get("agreement"))
        table.add_row(result.symbol, result.format, result.precision, _size(result.size_bytes), agreement,
                      _number(parity.get("cosine"), "{:.5f}"), _top1(parity), _number(result.seconds, "{:.1f}"),
                      _notes(result, footnotes))
    return table, footnotes


def _notes(result, footnotes: list[str]) -> str:
    """The status in a few words, with [n] pointing to a footnote for the reason and backend facts."""
    details = [result.reason] if result.reason else []
    delegation = result.extra.get("delegation")
    if delegation:
        details.append(f"XNNPACK: {delegation['delegate_calls']} delegate call(s), "
                       f"{delegation['non_delegated_ops']} op(s) outside")
    short = "not run here" if result.reason.startswith("not run") else result.status
    if not details:
        return short
    footnotes.append(f"{result.format} {result.precision}: " + "; ".join(details))
    return f"{short} [{len(footnotes)}]"


def _size(size: int | None) -> str:
    return "" if size is None else f"{size / 1e6:.2f} MB"


def _fraction(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _number(value: float | None, pattern: str) -> str:
    return "" if value is None else pattern.format(value)


def _top1(parity: dict) -> str:
    if parity.get("reference_top1") is None:
        return ""
    return f"{parity['reference_top1']:.1f} → {parity['artifact_top1']:.1f} ({parity['artifact_top1'] - parity['reference_top1']:+.1f})"


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
