"""`edgekit eval` and `edgekit predict`: a checkpoint, or an exported artifact folder run in its own runtime.

Parses the flags into EvalOptions/PredictOptions (edgekit.evaluate_options, where their defaults live), runs evaluate()/predict() and renders them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from edgekit.cli import render
from edgekit.cli.defaults import default
from edgekit.evaluate_options import EvalOptions, PredictOptions

MODEL_HELP = ("An edgekit checkpoint (RUN/best.pt), or an artifact folder from `edgekit export` "
              "(OUT/<model>/<format>-<precision>/: run in its own runtime after checking its sha256).")


def eval_command(
    model: Path = typer.Argument(..., help=MODEL_HELP),
    data: Optional[Path] = typer.Option(None, "--data", help="Class folder or prepared directory (a detector: a COCO or YOLO folder or a prepared detection directory). Default: the run's recorded splits beside the checkpoint (for an artifact: the checkpoint it was exported from), else the shipped samples."),
    split: str = typer.Option(default(EvalOptions, "split"), "--split", help="val, test, train or all (every image of --data)."),
    max_images: Optional[int] = typer.Option(None, "--max-images", help="Evaluate a seeded sample of this many images (seed 0: the same draw as `edgekit export --parity-size N`, so an artifact's figure matches its manifest's parity)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where eval.json and confusion_matrix.png go. Default: eval-<checkpoint name>/ beside the checkpoint, eval-<artifact folder>/ beside the artifact folder."),
    batch_size: int = typer.Option(default(EvalOptions, "batch_size"), "--batch-size", help="Images per forward pass (artifacts exported with batch 1 run one at a time)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (`top1` in percent with its 95 % interval) instead of a table."),
) -> None:
    """Accuracy with its 95 % interval, top-5, macro precision/recall/F1, per-class figures and a confusion matrix; a detector's checkpoint: COCO mAP@[.5:.95], mAP@.5 and AP per class (pycocotools)."""
    from edgekit.evaluate import evaluate

    options = EvalOptions(model, data=data, split=split, max_images=max_images, out=out, batch_size=batch_size)
    with render.ProgressDisplay() as display:
        result = evaluate(options, on_progress=display)
    if as_json:
        typer.echo(json.dumps(result.document, indent=2))
        return
    if getattr(result, "task", "classification") == "detection":
        show_detection_eval(result)
        return
    show_eval(result)


def show_detection_eval(result) -> None:
    """COCO AP per class and the summary, within 80 columns."""
    report = result.report
    out = render.out()
    out.print(f"{result.model_name} ({result.kind}) on {result.description}", soft_wrap=True, markup=False)
    table = render.table(None, ["class", ("AP", "right"), ("AP@.5", "right"), ("boxes", "right")])
    fmt = lambda v: "—" if v is None else f"{v:.3f}"
    for row in report.per_class:
        table.add_row(row["class"], fmt(row["ap"]), fmt(row["ap50"]), str(row["boxes"]))
    out.print(table)
    out.print(f"mAP@[.5:.95] [bold]{report.map:.3f}[/]  mAP@.5 {report.map50:.3f}  mAP@.75 {report.map75:.3f}  "
              "(pycocotools)")
    out.print(f"{report.num_images} images, {report.num_boxes} boxes, {report.num_detections} detections")
    out.print(f"wrote {result.json_path}", markup=False, soft_wrap=True)


def show_eval(result) -> None:
    from edgekit.stats import INTERVAL_METHOD

    report = result.report
    out = render.out()
    out.print(f"{result.model_name} ({result.kind}) on {result.description}", soft_wrap=True, markup=False)
    table = render.table(None, ["class", ("precision", "right"), ("recall", "right"), ("F1", "right"),
                                ("images", "right")])
    for row in report.per_class:
        table.add_row(row["class"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                      str(row["support"]))
    out.print(table)
    low, high = report.top1_ci
    top5 = f", top-5 {100 * report.top5_accuracy:.1f} %" if report.top5_accuracy is not None else ""
    out.print(f"accuracy (top-1) [bold]{100 * report.accuracy:.1f} %[/] (95 % interval {low:.1f}–{high:.1f}, "
              f"{INTERVAL_METHOD.split(',')[0]}, n={report.num_images}){top5}")
    out.print(f"macro precision/recall/F1 {report.macro_precision:.3f}/{report.macro_recall:.3f}/"
              f"{report.macro_f1:.3f}")
    out.print(f"wrote {result.json_path} and {result.plot_path}", markup=False, soft_wrap=True)


def predict_command(
    model: Path = typer.Argument(..., help=MODEL_HELP),
    images: list[Path] = typer.Argument(..., help="One or more image files."),
    top_k: int = typer.Option(default(PredictOptions, "top_k"), "--top-k", help="How many labels to show per image."),
    min_score: float = typer.Option(default(PredictOptions, "min_score"), "--min-score", help="A detector: show and draw only detections scoring at least this (0-1); NMS itself keeps down to the manifest's score_threshold."),
    out: Optional[Path] = typer.Option(None, "--out", help="A detector: write each image with its boxes, labels and scores drawn; a .jpg/.png file for one image, else a folder (FOLDER/<image name>.jpg). Never one of the input images."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: one object per image with its top-k labels and probabilities (a detector: its boxes in image pixels, labels and scores)."),
) -> None:
    """Top-k labels with probabilities, preprocessed exactly as at evaluation time (an artifact: as its manifest says); a detector: its boxes, labels and scores, drawn with --out."""
    from edgekit.evaluate import predict

    options = PredictOptions(model, images, top_k=top_k, min_score=min_score, out=out)
    with render.ProgressDisplay() as display:
        result = predict(options, on_progress=display)
    if getattr(result, "task", "classification") == "detection":
        show_detections(result, as_json)
        return
    if as_json:
        typer.echo(json.dumps([{"image": str(p.path), "top": [{"label": label, "probability": prob} for label, prob in p.top]}
                               for p in result.predictions], indent=2))
        return
    for prediction in result.predictions:
        render.out().print(f"{prediction.path}  ({result.kind})", soft_wrap=True, markup=False)
        table = render.table(None, ["label", ("probability", "right")])
        for label, probability in prediction.top:
            table.add_row(label, f"{probability:.4f}")
        render.out().print(table)


def show_detections(result, as_json: bool) -> None:
    """A detector's answer: per image a table of boxes (image pixels), labels and scores, within 80 columns."""
    if as_json:
        typer.echo(json.dumps([image.to_dict() for image in result.images], indent=2))
        return
    out = render.out()
    for image in result.images:
        out.print(f"{image.path}  ({result.kind}; {len(image.labels)} detections with score "
                  f">= {result.min_score:g})", soft_wrap=True, markup=False)
        if not image.labels:
            continue
        table = render.table(None, ["label", ("score", "right"), ("x1", "right"), ("y1", "right"), ("x2", "right"),
                                    ("y2", "right")])
        for box, score, label in zip(image.boxes, image.scores, image.labels):
            table.add_row(label, f"{score:.3f}", *(f"{v:.1f}" for v in box))
        out.print(table)
    for path in result.drawn:
        out.print(f"wrote {path}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("predict")(predict_command)
