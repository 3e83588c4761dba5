"""`edgekit models` (also `edgekit models list`): the zoo as a table, or JSON for machines."""
from __future__ import annotations

import json
from typing import Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from edgekit.errors import EdgekitError

console = Console()

JSON_HELP = "Print the same facts as JSON (a list of objects, one per model) instead of a table."
NUM_CLASSES_HELP = ("Count parameters with a head for this many classes; a detector's head adds the background "
                    "(default: the papers', 1000 for classifiers and COCO's 90 + background for detectors).")
IMG_SIZE_HELP = "Count MACs at this input size (square, px) instead of each model's default (paper) size."


def _budget_cell(budget: dict) -> str:
    params, macs = budget["paper_params_m"], budget["paper_macs_m"]
    if params is None and macs is None:
        return "—"
    figures = f"{f'{params:g}M' if params is not None else '—'}/{f'{macs:g}M' if macs is not None else '—'}"
    return figures + (" [green]✓[/]" if budget["met"] else " [red]✗[/]")


TASKS = {"classification": "cls", "detection": "det"}  # the task column's words (80 columns: see the legend)


def models_table(rows: list[dict], img_size: Optional[int], num_classes: Optional[int] = None) -> Table:
    classes = f"{num_classes} classes (+ background: det)" if num_classes else "the papers' classes"
    at = f"{img_size} px" if img_size else "each default input"
    table = Table(title=f"edgekit models: {classes}, MACs at {at}",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 0))  # one space between columns
    table.add_column("name", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("MACs", justify="right", no_wrap=True)
    table.add_column("px", justify="right")
    table.add_column("options", min_width=14, overflow="fold")
    table.add_column("top-1", justify="right", no_wrap=True)
    table.add_column("budget", no_wrap=True)
    table.add_column("tv", no_wrap=True)
    for row in rows:
        options = "\n".join(f"{k}={v}" for k, v in row["options"].items()) or "—"
        top1 = f"{row['published_top1']:.1f}" if row["published_top1"] is not None else "—"
        table.add_row(row["name"], TASKS.get(row["task"], row["task"]), f"{row['params'] / 1e6:.2f}M", f"{row['macs'] / 1e6:.0f}M",
                      f"{row['default_img_size']}", options, top1, _budget_cell(row["budget"]),
                      "✓" if row["torchvision_weights"] else "—")
    return table


LEGEND = ("task: cls classification (ImageNet, 1000 classes), det detection (SSDLite; COCO, 91 classes with the "
          "background; MACs of the network without box decoding and NMS). px: default (paper) input size. top-1: ImageNet, as "
          "published. budget: the paper's params/MACs; ✓ where ours, at the paper's classes and input size, are "
          "within 5 %. tv: torchvision publishes ImageNet weights for it (edgekit.models.pretrained).")


def show_models(as_json: bool, num_classes: Optional[int], img_size: Optional[int]) -> None:
    from edgekit.models import get_model_info, list_models
    from edgekit.models.complexity import describe_model

    if num_classes is not None and num_classes < 1:
        raise EdgekitError(f"--num-classes must be at least 1, got {num_classes}")

    def head(name: str) -> Optional[int]:  # a detector's head has one more output: the background (index 0)
        return None if num_classes is None else num_classes + (get_model_info(name).task == "detection")

    rows = [describe_model(name, num_classes=head(name), img_size=img_size) for name in list_models()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        console.print(models_table(rows, img_size, num_classes))
        console.print(LEGEND, style="dim")


models_app = typer.Typer(help="The model zoo: size, cost and paper facts of every architecture.",
                         invoke_without_command=True)


@models_app.callback()
def models_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help=NUM_CLASSES_HELP),
    img_size: Optional[int] = typer.Option(None, "--img-size", help=IMG_SIZE_HELP),
) -> None:
    """List every architecture: task, parameters, MACs, input size, options, published top-1, paper budget."""
    if ctx.invoked_subcommand is None:
        show_models(as_json, num_classes, img_size)


@models_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help=NUM_CLASSES_HELP),
    img_size: Optional[int] = typer.Option(None, "--img-size", help=IMG_SIZE_HELP),
) -> None:
    """The same as `edgekit models`."""
    show_models(as_json, num_classes, img_size)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
