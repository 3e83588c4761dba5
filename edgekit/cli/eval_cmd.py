"""`edgekit eval` and `edgekit predict`: a checkpoint, or an exported artifact folder run in its own runtime."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from edgekit import contracts
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_text, writable_folder

console = Console()
MODEL_HELP = ("An edgekit checkpoint (RUN/best.pt), or an artifact folder from `edgekit export` "
              "(OUT/<model>/<format>-<precision>/: run in its own runtime after checking its sha256).")


def eval_command(
    model: Path = typer.Argument(..., help=MODEL_HELP),
    data: Optional[Path] = typer.Option(None, "--data", help="Class folder or prepared directory. Default: the run's recorded splits beside the checkpoint (for an artifact: the checkpoint it was exported from), else the shipped samples."),
    split: str = typer.Option("val", "--split", help="val, test, train or all (every image of --data)."),
    max_images: Optional[int] = typer.Option(None, "--max-images", help="Evaluate a seeded sample of this many images (seed 0: the same draw as `edgekit export --parity-size N`, so an artifact's figure matches its manifest's parity)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where eval.json and confusion_matrix.png go. Default: eval-<checkpoint name>/ beside the checkpoint, eval-<artifact folder>/ beside the artifact folder."),
    batch_size: int = typer.Option(32, "--batch-size", help="Images per forward pass (artifacts exported with batch 1 run one at a time)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (`top1` in percent with its 95 % interval) instead of a table."),
) -> None:
    """Accuracy with its 95 % interval, top-5, macro precision/recall/F1, per-class figures and a confusion matrix."""
    from edgekit.evaluate import (INTERVAL_METHOD, align_labels, evaluate_predictor, open_evaluable,
                                  plot_confusion_matrix, resolve_eval_data)
    from edgekit.images import seeded_sample

    if max_images is not None and max_images < 1:
        raise EdgekitError(f"--max-images must be at least 1, got {max_images}")
    target = open_evaluable(model)
    samples, data_classes, description = resolve_eval_data(target.checkpoint, data, split)
    if max_images is not None and max_images < len(samples):
        samples = seeded_sample(samples, max_images)
        description = f"{description}, a seeded sample of {max_images}"
    samples = align_labels(samples, data_classes, target.labels)
    out = writable_folder(out or target.default_out, "--out", create=False)  # before the evaluation, not after
    report = evaluate_predictor(target.predictor, samples, target.labels, target.preprocessing, batch_size=batch_size)
    document = {"schema": contracts.EVAL, **report.to_dict(), "model": str(model), "evaluated": target.kind, "data": description,
                "checkpoint": str(model) if target.kind == "checkpoint" else None}
    atomic_write_text(out / "eval.json", json.dumps(document, indent=2) + "\n")
    plot_confusion_matrix(report.confusion_matrix, target.labels, out / "confusion_matrix.png",
                          title=f"{target.model_name} ({target.kind}): {description}")
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    console.print(f"{target.model_name} ({target.kind}) on {description}", soft_wrap=True, markup=False, highlight=False)
    table = Table()
    for column in ("class", "precision", "recall", "F1", "images"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in report.per_class:
        table.add_row(row["class"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    console.print(table)
    low, high = report.top1_ci
    top5 = f"  top-5 {report.top5_accuracy:.4f}" if report.top5_accuracy is not None else ""
    console.print(f"accuracy [bold]{report.accuracy:.4f}[/] (top-1 {100 * report.accuracy:.1f} %, 95 % interval "
                  f"{low:.1f}–{high:.1f}, {INTERVAL_METHOD.split(',')[0]}, n={report.num_images}){top5}  macro P/R/F1 "
                  f"{report.macro_precision:.3f}/{report.macro_recall:.3f}/{report.macro_f1:.3f}")
    console.print(f"wrote {out / 'eval.json'} and {out / 'confusion_matrix.png'}")


def predict_command(
    model: Path = typer.Argument(..., help=MODEL_HELP),
    images: list[Path] = typer.Argument(..., help="One or more image files."),
    top_k: int = typer.Option(5, "--top-k", help="How many labels to show per image."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: one object per image with its top-k labels and probabilities."),
) -> None:
    """Top-k labels with probabilities, preprocessed exactly as at evaluation time (an artifact: as its manifest says)."""
    from edgekit.evaluate import open_evaluable, predict_images

    if top_k < 1:
        raise EdgekitError("--top-k must be at least 1")
    missing = [p for p in images if not Path(p).is_file()]
    if missing:
        raise EdgekitError(f"{missing[0]} is not an image file")
    target = open_evaluable(model)
    predictions = predict_images(target.predictor, list(images), target.labels, target.preprocessing, top_k=top_k)
    if as_json:
        typer.echo(json.dumps([{"image": str(p.path), "top": [{"label": label, "probability": prob} for label, prob in p.top]}
                               for p in predictions], indent=2))
        return
    for prediction in predictions:
        console.print(f"{prediction.path}  ({target.kind})", soft_wrap=True, markup=False, highlight=False)
        table = Table(show_header=True)
        table.add_column("label")
        table.add_column("probability", justify="right")
        for label, probability in prediction.top:
            table.add_row(label, f"{probability:.4f}")
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("predict")(predict_command)
