"""`edgekit report EXPORT_DIR`: one self-contained HTML page (export status, parity, accuracy, latency, sizes)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()


def report(
    export_dir: Path = typer.Argument(..., help="An export folder (edgekit export writes OUT/<model>/), "
                                                "with bench.json when edgekit bench has run."),
    out: Path = typer.Option(None, "--out", help="Where to write the page (default: EXPORT_DIR/report.html)."),
    images: list[Path] = typer.Option(None, "--images", help="A detector's export: images to draw the boxes of one verified fp32 artifact and every verified int8 one on, side by side (repeat the flag; at most 6)."),
) -> None:
    """Write one self-contained HTML report (inline styles and figures, opens offline) and print its path."""
    from edgekit.report import build_report

    path = build_report(export_dir, out, images or None)
    console.print(str(path), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
