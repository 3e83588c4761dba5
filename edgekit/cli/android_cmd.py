"""`edgekit android fixtures | check | sync`: the Android app's side of the manifest contract."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from edgekit.errors import EdgekitError
from edgekit.paths import REPO_ROOT

console = Console()
android_app = typer.Typer(help="The Android app: golden fixtures for its Kotlin core, checking its preprocessing "
                               "against edgekit's, copying artifacts into its assets.", no_args_is_help=True)
DEFAULT_FIXTURES = REPO_ROOT / "android_demo" / "core" / "build" / "fixtures"


@android_app.command("fixtures")
def fixtures(
    export_dir: Path = typer.Argument(..., help="An `edgekit export` model folder (OUT/<model>) with ONNX and/or "
                                                "TFLite fp32/int8 artifacts; other formats are ignored."),
    out: Path = typer.Option(DEFAULT_FIXTURES, "--out", help="Folder to (re)write the fixtures in (replaced whole)."),
) -> None:
    """Write golden fixtures (images, YUV planes, edgekit's tensors, host top-5) for android_demo/core/test.sh."""
    from edgekit.android.fixtures import write_fixtures

    index = write_fixtures(export_dir, out, on_progress=lambda event: console.print(f"[dim]{event.message}[/]"))
    console.print(f"wrote {len(index['images'])} images, {len(index['yuv'])} YUV frames and "
                  f"{len(index['tensors'])} tensors for {len(index['artifacts'])} manifests to {out}\n"
                  f"run: android_demo/core/test.sh --fixtures {out}")


@android_app.command("check")
def check(
    export_dir: Path = typer.Argument(..., help="An `edgekit export` model folder (OUT/<model>) with ONNX and/or "
                                                "TFLite artifacts."),
    images: List[Path] = typer.Argument(..., help="Image files (PNG, JPEG, ...) to preprocess both ways."),
) -> None:
    """Preprocess images as the app does (JVM tool) and as edgekit does; compare tensors and top-1 through each
    host artifact. Exit 1 when any image disagrees."""
    from edgekit.android.check import check_images

    rows = check_images(export_dir, images, on_progress=lambda event: console.print(f"[dim]{event.message}[/]"))
    table = Table(title="the app's preprocessing vs edgekit's", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("image", overflow="fold")
    table.add_column("artifact", overflow="fold")
    table.add_column("max |diff| ≤ tol", overflow="fold")
    table.add_column("top-1 (a detector: boxes) edgekit / app", overflow="fold")
    table.add_column("", overflow="fold")
    for row in rows:
        unit = " steps" if row.unit == "steps" else ""
        table.add_row(row.image, row.artifact, f"{row.max_abs_diff:.2g} ≤ {row.tolerance:g}{unit}",
                      f"{row.edgekit_top1} / {row.app_top1}", "[green]ok[/]" if row.agrees else "[red]NO[/]")
    console.print(table)
    bad = [row for row in rows if not row.agrees]
    console.print(f"{len(rows) - len(bad)} of {len(rows)} (image, artifact) pairs agree")
    if bad:
        raise EdgekitError(f"{len(bad)} (image, artifact) pair(s) disagree: the app's preprocessing differs from edgekit's")


@android_app.command("sync")
def sync(
    export_dir: Path = typer.Argument(..., help="An `edgekit export` model folder (OUT/<model>)."),
    app: Path = typer.Option(REPO_ROOT / "android_demo", "--app", help="The Android project; assets go to "
                                                                       "APP/app/src/main/assets/models/."),
    only: Optional[List[str]] = typer.Option(None, "--only", help="Copy only this artifact folder "
                                                                  "(e.g. tflite-int8); repeatable."),
) -> None:
    """Copy the artifacts the app can run (ONNX, TFLite, ExecuTorch) into the app's assets, checksums verified."""
    from edgekit.android.sync import sync_assets

    result = sync_assets(export_dir, app / "app" / "src" / "main" / "assets", only=only or None)
    for name in result.copied:
        console.print(f"copied {name}")
    for name, reason in result.refused:
        console.print(f"[yellow]not copied[/] {name}: {reason}")
    if not result.copied:
        raise EdgekitError("nothing copied: no artifact the app can run")


def register(app: typer.Typer) -> None:
    app.add_typer(android_app, name="android")
