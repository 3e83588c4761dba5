"""`edgekit data audit` and `edgekit data prepare`: thin layers over edgekit.data.audit / .prepare."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from edgekit.cli.render import ProgressDisplay
from edgekit.data import symmetry
from edgekit.data.prepare import PrepareOptions

console = Console()
PREPARE = PrepareOptions()  # the flags' defaults
data_app = typer.Typer(no_args_is_help=True, help="Look at a folder-per-class or detection (COCO, YOLO) data set and "
                       "prepare clean, fixed splits.")

LISTED = 20  # problem files printed on the console; the full lists are in the output files


def _progress() -> ProgressDisplay:
    return ProgressDisplay(console)


def default_audit_dir(data_dir: Path) -> Path:
    return Path(f"audit-{data_dir.resolve().name}")


def _audit_table(summary: dict) -> Table:
    table = Table(title=f"audit of {summary['root']}", box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    table.add_column("what", style="bold", overflow="fold")
    table.add_column("found", overflow="fold")  # 80 columns: long paths fold, never end in "…"
    counts = summary["class_count_summary"]
    imbalance = f"{counts['imbalance']:.1f}x" if counts["imbalance"] else "—"
    table.add_row("classes", str(summary["num_classes"]))
    table.add_row("images", f"{summary['num_readable']} readable of {summary['num_images']} image files")
    table.add_row("per class", f"min {counts['min']}, mean {counts['mean']:.1f}, max {counts['max']} (largest/smallest {imbalance})")
    w, h, a = summary["width"], summary["height"], summary["aspect_ratio"]
    if w["min"] is not None:
        table.add_row("width px", f"{w['min']} .. {w['max']} (median {w['median']:g})")
        table.add_row("height px", f"{h['min']} .. {h['max']} (median {h['median']:g})")
        table.add_row("aspect w/h", f"{a['min']:.2f} .. {a['max']:.2f} (median {a['median']:.2f})")
    table.add_row("modes", ", ".join(f"{m} {n}" for m, n in summary["modes"].items()) or "—")
    for group, paths in summary["mode_groups"].items():
        if paths:
            table.add_row(group, f"[yellow]{len(paths)}[/] (converted to RGB when loaded)")
    bad = lambda n: f"[red]{n}[/]" if n else "0"  # noqa: E731
    table.add_row("unreadable", bad(len(summary["unreadable"])))
    table.add_row("non-image files", bad(len(summary["non_images"])))
    extra = sum(len(group) - 1 for group in summary["duplicates"])
    table.add_row("duplicates", f"{bad(extra)} extra copies in {len(summary['duplicates'])} groups" if extra else "0")
    table.add_row("mirror test", symmetry.audit_line(summary["mirror_test"]))  # horizontal flips: see edgekit.data.symmetry
    return table


def _print_listed(title: str, rows: list[tuple[str, str]], where: Path) -> None:
    if not rows:
        return
    console.print(f"[bold]{title}[/] ({len(rows)}):", highlight=False)
    for path, reason in rows[:LISTED]:
        console.print(f"  {path}: {reason}", highlight=False, markup=False)
    if len(rows) > LISTED:
        console.print(f"  ... {len(rows) - LISTED} more in {where}", highlight=False)


def _detection_table(summary: dict) -> Table:
    table = Table(title=f"audit of {summary['root']}", box=box.SIMPLE_HEAD, show_header=False, pad_edge=False)
    table.add_column("what", style="bold", overflow="fold")
    table.add_column("found", overflow="fold")
    bad = lambda n: f"[red]{n}[/]" if n else "0"  # noqa: E731
    warn = lambda n: f"[yellow]{n}[/]" if n else "0"  # noqa: E731
    table.add_row("task", f"{summary['layout'].upper()} detection")  # a row, not the title: a title wraps at any word
    table.add_row("images", f"{summary['num_images']} ({', '.join(f'{k} {v}' for k, v in summary['splits'].items())})")
    table.add_row("boxes", f"{summary['num_boxes']} in {len(summary['classes'])} classes")
    per_image = summary["boxes_per_image"]
    if per_image["min"] is not None:
        table.add_row("per image", f"{per_image['min']} .. {per_image['max']} (median {per_image['median']:g})")
    sizes = summary["box_sizes"]
    if sizes["width_px"]["min"] is not None:
        w, h, r = sizes["width_px"], sizes["height_px"], sizes["relative_side"]
        table.add_row("box width px", f"{w['min']:.0f} .. {w['max']:.0f} (median {w['median']:.0f})")
        table.add_row("box height px", f"{h['min']:.0f} .. {h['max']:.0f} (median {h['median']:.0f})")
        if r["min"] is not None:
            table.add_row("box/image side", f"{r['min']:.2f} .. {r['max']:.2f} (median {r['median']:.2f})")
        table.add_row("COCO sizes", f"small {sizes['small']}, medium {sizes['medium']}, large {sizes['large']}")
    table.add_row("outside image", bad(len(summary["outside_image"])))
    table.add_row("zero area", bad(len(summary["zero_area"])))
    table.add_row("without boxes", warn(len(summary["without_boxes"])))
    extra = sum(len(group) - 1 for group in summary["duplicates"])
    table.add_row("duplicates", f"{bad(extra)} extra copies in {len(summary['duplicates'])} groups" if extra else "0")
    table.add_row("unreadable", bad(len(summary["unreadable"])))
    table.add_row("size mismatch", bad(len(summary["size_mismatch"])))
    return table


def _class_table(summary: dict) -> Table:
    table = Table(title="boxes per class", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("class", overflow="fold")
    table.add_column("boxes", justify="right")
    table.add_column("images", justify="right")
    for name, count in summary["boxes_per_class"].items():
        table.add_row(name, str(count) if count else "[red]0[/]", str(summary["images_per_class"][name]))
    return table


def _detection_audit(data_dir: Path, out: Path) -> None:
    from edgekit.data.detection_prepare import audit_detection, write_detection_audit

    with _progress() as progress:
        audit = audit_detection(data_dir, on_progress=progress)
    summary = audit.to_dict()
    paths = write_detection_audit(audit, out)
    console.print(_detection_table(summary))
    console.print(_class_table(summary))
    box_line = lambda e: (e["image"], f"{e['class']} {e['bbox']}")  # noqa: E731
    _print_listed("boxes outside the image", [box_line(e) for e in summary["outside_image"]], paths[0])
    _print_listed("boxes of zero area", [box_line(e) for e in summary["zero_area"]], paths[0])
    _print_listed("unreadable", [(e["image"], e["reason"]) for e in summary["unreadable"]], paths[0])
    _print_listed("size mismatch", [(e["image"], e["reason"]) for e in summary["size_mismatch"]], paths[0])
    console.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)


@data_app.command("audit")
def audit_command(
    data_dir: Path = typer.Argument(..., help="Class-folder directory (DIR/<class>/<image>) or detection folder "
                                    "(COCO: DIR/train/annotations.json; YOLO: DIR/data.yaml). Only read, never written."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for audit.json, class_counts.png and sizes.png. "
                                       "Default: ./audit-<name of DIR> in the current directory. Must not be inside DIR."),
) -> None:
    """Count, decode and check every image: class balance, sizes, unreadable files, duplicates, colour modes.

    A detection folder (COCO or YOLO) gets boxes per class, box sizes, boxes outside the image or of zero area,
    images without boxes and duplicate images instead (audit.json only).
    """
    from edgekit.data.audit import audit_dataset, check_out_dir, write_audit_outputs
    from edgekit.data.detection import detection_layout
    from edgekit.fileio import writable_folder

    out = out if out is not None else default_audit_dir(data_dir)
    if data_dir.is_dir():
        check_out_dir(out, data_dir)  # refuse before the long scan
        writable_folder(out, "--out", create=False)
    if detection_layout(data_dir):
        _detection_audit(data_dir, out)
        return
    with _progress() as progress:
        report = audit_dataset(data_dir, on_progress=progress)
    summary = report.to_dict()
    paths = write_audit_outputs(report, out)
    console.print(_audit_table(summary))
    _print_listed("unreadable", [(e["path"], e["reason"]) for e in summary["unreadable"]], paths[0])
    _print_listed("not images", [(e["path"], e["reason"]) for e in summary["non_images"]], paths[0])
    console.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)


@data_app.command("prepare")
def prepare_command(
    data_dir: Path = typer.Argument(..., help="Class-folder directory (DIR/<class>/<image>) or detection folder "
                                    "(COCO or YOLO). Only read, never written."),
    out: Path = typer.Option(..., "--out", help="Prepared directory to create (split lists, dropped.txt, prepare.json, "
                             "augmented copies). Must not be DIR or inside it; use it as `edgekit train --data OUT`."),
    min_side: Optional[int] = typer.Option(PREPARE.min_side, "--min-side", help="Drop images whose shorter side is under N px."),
    aspect_range: Optional[tuple[float, float]] = typer.Option(None, "--aspect-range", metavar="LO HI",
                                                               help="Drop images whose width/height is outside LO..HI "
                                                               "(e.g. 0.5 2); same as --min-aspect LO --max-aspect HI."),
    min_aspect: Optional[float] = typer.Option(PREPARE.min_aspect, "--min-aspect", help="Drop images whose width/height is under this ratio."),
    max_aspect: Optional[float] = typer.Option(PREPARE.max_aspect, "--max-aspect", help="Drop images whose width/height is over this ratio."),
    drop_duplicates: bool = typer.Option(PREPARE.drop_duplicates, "--drop-duplicates", help="Keep one file of each set of byte-identical files (the first in path order)."),
    max_per_class: Optional[int] = typer.Option(PREPARE.max_per_class, "--max-per-class", help="Keep at most N images per class (a random draw fixed by --seed)."),
    min_per_class: Optional[int] = typer.Option(PREPARE.min_per_class, "--min-per-class", help="Top up classes under N images with horizontally flipped copies of their "
                                                "training images (at most one each), written under OUT/augmented/<class>/."),
    val: float = typer.Option(PREPARE.val, "--val", help="Fraction of each class held out for validation."),
    test: float = typer.Option(PREPARE.test, "--test", help="Fraction of each class held out for a test split (0: none)."),
    seed: int = typer.Option(PREPARE.seed, "--seed", help="Seed of the split and of the --max-per-class draw: same seed, same files."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty OUT written by an earlier `edgekit data prepare`."),
) -> None:
    """Drop unusable images, apply the chosen cleaning steps, and write a fixed stratified split.

    Unreadable and non-image files are always dropped and listed (console and OUT/dropped.txt).
    Your files are never modified; OUT appears complete or not at all. A detection folder (COCO or YOLO) is split
    by image, stratified by the classes present (--val, --test, --seed, --drop-duplicates), into COCO files.
    """
    from edgekit.data.audit import printable
    from edgekit.data.detection import detection_layout
    from edgekit.data.prepare import prepare_dataset

    options = PrepareOptions.from_flags(aspect_range=aspect_range, min_side=min_side, min_aspect=min_aspect,
                                        max_aspect=max_aspect, drop_duplicates=drop_duplicates,
                                        max_per_class=max_per_class, min_per_class=min_per_class, val=val,
                                        test=test, seed=seed)
    if detection_layout(data_dir):
        _detection_prepare(data_dir, out, options, overwrite)
        return
    with _progress() as progress:
        report = prepare_dataset(data_dir, out, options, overwrite=overwrite, on_progress=progress)
    dropped_file = report.out / "dropped.txt"
    unusable = [(printable(d.path.relative_to(report.source)), d.detail) for d in report.dropped
                if d.kind in ("unreadable", "not-an-image", "name-not-utf8")]
    _print_listed("dropped, unusable", unusable, dropped_file)
    table = Table(title=f"prepared {report.out}", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("split", "images", "classes present"):
        table.add_column(column, justify="right" if column != "split" else "left", overflow="fold")
    for name, samples in report.splits.items():
        if name == "test" and not samples:
            continue  # no --test asked for (test.txt is still written, empty)
        table.add_row(name, str(len(samples)), str(len({label for _, label in samples})))
    console.print(table)
    dropped = report.dropped_counts()
    console.print(f"dropped: {', '.join(f'{k} {v}' for k, v in dropped.items()) or 'none'}"
                  f"{f' (see {dropped_file})' if dropped else ''}; flipped copies added: {len(report.augmented)}", highlight=False)
    for name, missing in report.shortfalls.items():
        console.print(f"[yellow]{name}: still {missing} under --min-per-class (one flipped copy per training image at most)[/]",
                      highlight=False)


def _detection_prepare(data_dir: Path, out: Path, options: PrepareOptions, overwrite: bool) -> None:
    from edgekit.data.detection_prepare import prepare_detection

    with _progress() as progress:
        report = prepare_detection(data_dir, out, options, overwrite=overwrite, on_progress=progress)
    dropped_file = report.out / "dropped.txt"
    _print_listed("dropped", [(name, f"{kind}: {detail}") for name, kind, detail in report.dropped], dropped_file)
    table = Table(title=f"prepared {report.out}", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("split", "images", "boxes", "classes present"):
        table.add_column(column, justify="right" if column != "split" else "left", overflow="fold")
    for name, counts in report.boxes_per_split().items():
        table.add_row(name, str(len(report.splits[name])), str(sum(counts.values())),
                      f"{sum(1 for n in counts.values() if n)} of {len(report.classes)}")
    console.print(table)
    console.print(f"dropped: {len(report.dropped)}{f' (see {dropped_file})' if report.dropped else ''}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data", help="Audit a class-folder or detection data set; clean it and write fixed "
                  "train/val/test splits.")
