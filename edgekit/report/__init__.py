"""`edgekit report EXPORT_DIR`: one self-contained HTML page about an export folder.

    build_report(export_dir, out=None, images=None) -> Path    writes EXPORT_DIR/report.html (or `out`) atomically
    render_report(export_dir, images=None) -> str             the page as a string

`images` (a detector's export): the caller's images, drawn with the boxes each verified artifact finds
(edgekit.report.detections).

The page reads summary.json (export status, parity, sizes), each artifact's manifest.json and, when
`edgekit bench` has run, bench.json (host and phone rows, accuracy with its interval from bench --data), and,
when `edgekit profile` has run, profile.json (time per op type, fp32 beside int8, per format).
Figures are matplotlib PNGs inlined as data: URIs; styles are inline; the page loads nothing from
anywhere, so it opens offline and can be mailed as one file. `edgekit.report.check` renders it in
headless Chromium and inspects the screenshot (scripts/check_report.sh).
"""
from __future__ import annotations

from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_text, writable_folder
from edgekit.report.data import load_export
from edgekit.report.page import render

REPORT_NAME = "report.html"


def render_report(export_dir: Path | str, images: list[Path] | None = None) -> str:
    data = load_export(export_dir)
    return render(data, _detections(data, images))


def _detections(data, images: list[Path] | None) -> str:
    from edgekit.report.detections import check_images, section_detections

    if images and not data.is_detector:
        raise EdgekitError("--images draws a detector's boxes; this export folder holds a classifier")
    return section_detections(data, check_images(images) if images else None)


def build_report(export_dir: Path | str, out: Path | str | None = None, images: list[Path] | None = None) -> Path:
    """Read and check the export folder, then make sure the page can be written (a read-only folder, a path
    under a file: one EdgekitError naming --out), then render and write it."""
    data = load_export(export_dir)
    target = Path(out) if out is not None else Path(export_dir) / REPORT_NAME
    what = "--out" if out is not None else "the export folder (the default --out)"
    if target.is_dir():
        raise EdgekitError(f"--out {target} is a folder: give a file name, e.g. {target / REPORT_NAME}")
    blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise EdgekitError(f"--out {target}: {blocker} is a file, not a folder")
    if not target.parent.is_dir():
        raise EdgekitError(f"--out {target}: folder {target.parent} does not exist")
    writable_folder(target.parent, what, create=False, shown=target)
    detections = _detections(data, images)
    try:
        return atomic_write_text(target, render(data, detections))
    except OSError as error:
        raise EdgekitError(f"cannot write {target}: {error.strerror or error}") from None
