"""`edgekit data audit`: what is in a folder-per-class data set before anyone trains on it.

Every image is opened *and decoded* (`Image.load()`), so truncated PNG/JPEG files are found
here rather than in the middle of an epoch. The report lists counts per class, sizes and
aspect ratios, unreadable files, non-image files, byte-identical duplicates (sha256) and the
images whose mode is not plain RGB (greyscale, CMYK, alpha, palette), and is written as
audit.json plus two plots. Nothing in the data directory is ever written.
"""
from __future__ import annotations

import hashlib
import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from PIL import Image

from edgekit.data import symmetry
from edgekit.data.folder import scan_image_folder
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write, atomic_write_text
from edgekit.preprocess import unsupported_mode
from edgekit.progress import OnProgress, reporter

DECODING = "decoding images"  # the progress task of audit and prepare

# PIL modes grouped by what a training pipeline has to do about them (all become RGB via load_rgb)
GREYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
MODE_GROUPS = ("greyscale", "cmyk", "alpha", "palette")


@dataclass
class ImageRecord:
    """One file of the data set as it was found on disk."""

    path: Path  # absolute
    label: int
    sha256: str  # "" when the file could not be read
    width: int = 0
    height: int = 0
    mode: str = ""
    error: Optional[str] = None  # why it could not be decoded; None when it could

    @property
    def readable(self) -> bool:
        return self.error is None

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.height else 0.0

    @property
    def mode_groups(self) -> list[str]:
        groups = []
        if self.mode in GREYSCALE_MODES:
            groups.append("greyscale")
        if self.mode == "CMYK":
            groups.append("cmyk")
        if self.mode in ALPHA_MODES:
            groups.append("alpha")
        if self.mode in ("P", "PA"):
            groups.append("palette")
        return groups


def printable(text: str | Path) -> str:
    """A path as text that can always be printed or written as UTF-8 (undecodable bytes escaped)."""
    return os.fsencode(str(text)).decode("utf-8", "backslashreplace")


def inspect_image(path: Path, label: int) -> ImageRecord:
    """Hash the bytes and fully decode the image; a file that cannot be read or decoded is recorded (unreadable,
    with the reason), never raised."""
    try:
        data = path.read_bytes()
    except OSError as error:  # no permission, a file gone since the scan, an I/O error
        return ImageRecord(path=path, label=label, sha256="", error=f"cannot be read: {error.strerror or error}")
    record = ImageRecord(path=path, label=label, sha256=hashlib.sha256(data).hexdigest())
    try:
        with Image.open(path) as image:
            record.width, record.height = image.size
            record.mode = image.mode
            if image.mode == "P" and "transparency" in image.info:
                record.mode = "PA"  # a palette with a transparent index carries alpha too
            image.load()  # decodes every pixel: raises on truncated or corrupt data
            problem = unsupported_mode(image.mode)
            if problem:  # load_rgb (training, eval, export) refuses it: so does the audit, and prepare drops it
                record.error = problem
    except Exception as error:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        record.error = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return record


@dataclass
class AuditReport:
    root: Path
    classes: list[str]
    records: list[ImageRecord]
    non_images: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason)

    # --------------------------------------------------------------- derived facts
    @property
    def readable(self) -> list[ImageRecord]:
        return [r for r in self.records if r.readable]

    @property
    def unreadable(self) -> list[ImageRecord]:
        return [r for r in self.records if not r.readable]

    def class_counts(self) -> dict[str, int]:
        """Readable images per class (what training would actually see)."""
        counts = {name: 0 for name in self.classes}
        for record in self.readable:
            counts[self.classes[record.label]] += 1
        return counts

    def duplicate_groups(self) -> list[list[ImageRecord]]:
        """Byte-identical files, two or more per group, in path order."""
        by_hash: dict[str, list[ImageRecord]] = {}
        for record in self.records:
            if record.sha256:  # a file that could not be read has no hash
                by_hash.setdefault(record.sha256, []).append(record)
        return [sorted(group, key=lambda r: r.path) for group in by_hash.values() if len(group) > 1]

    def mode_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.readable:
            counts[record.mode] = counts.get(record.mode, 0) + 1
        return dict(sorted(counts.items()))

    def in_mode_group(self, group: str) -> list[ImageRecord]:
        return [r for r in self.readable if group in r.mode_groups]

    def relative(self, path: Path) -> str:
        return printable(path.relative_to(self.root).as_posix())

    def to_dict(self) -> dict:
        readable = self.readable
        counts = self.class_counts()
        nonzero = [c for c in counts.values() if c]
        widths, heights = [r.width for r in readable], [r.height for r in readable]
        aspects = [r.aspect for r in readable]

        def spread(values: list) -> dict:
            if not values:
                return {"min": None, "median": None, "max": None}
            return {"min": min(values), "median": statistics.median(values), "max": max(values)}

        return {
            "root": printable(self.root),
            "num_classes": len(self.classes),
            "num_files": len(self.records) + len(self.non_images),
            "num_images": len(self.records),
            "num_readable": len(readable),
            "class_counts": counts,
            "class_count_summary": {
                "min": min(counts.values()), "max": max(counts.values()),
                "mean": sum(counts.values()) / len(counts),
                "imbalance": (max(nonzero) / min(nonzero)) if nonzero else None,  # largest / smallest class
            },
            "width": spread(widths),
            "height": spread(heights),
            "aspect_ratio": spread(aspects),  # width / height
            "sizes": {f"{w}x{h}": n for (w, h), n in sorted(_size_counts(readable).items())},
            "modes": self.mode_counts(),
            "mode_groups": {group: [self.relative(r.path) for r in self.in_mode_group(group)] for group in MODE_GROUPS},
            "unreadable": [{"path": self.relative(r.path), "reason": r.error} for r in self.unreadable],
            "non_images": [{"path": self.relative(p), "reason": reason} for p, reason in self.non_images],
            "duplicates": [[self.relative(r.path) for r in group] for group in self.duplicate_groups()],
            "mirror_test": symmetry.audit_entry(readable, self.classes),  # may flips be used? (edgekit.data.symmetry)
        }


def _size_counts(records: list[ImageRecord]) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = {}
    for record in records:
        key = (record.width, record.height)
        counts[key] = counts.get(key, 0) + 1
    return counts


def audit_dataset(root: Path | str, *, on_progress: OnProgress | None = None) -> AuditReport:
    """Scan and decode every file of DIR/<class>/<image>; bad files are reported, bad layouts raise.
    `on_progress` gets a "decoding images" task with one step per image file (edgekit.progress)."""
    index = scan_image_folder(root)
    records = inspect_images(index.samples, on_progress=on_progress)
    return AuditReport(root=index.root, classes=index.classes, records=records, non_images=[(p.resolve(), reason) for p, reason in index.skipped])


def inspect_images(samples: list[tuple[Path, int]], *, on_progress: OnProgress | None = None) -> list[ImageRecord]:
    """Decode every (path, label) of a scanned folder: the loop audit and prepare share."""
    records = []
    with reporter(on_progress).task(DECODING, len(samples)) as advance:
        for path, label in samples:
            records.append(inspect_image(path, label))
            advance()
    return records


# ----------------------------------------------------------------------------- outputs

def check_out_dir(out_dir: Path, data_root: Path) -> Path:
    """Refuse an output folder that is the data directory, lies inside it, or is a file."""
    out_resolved = out_dir.resolve()
    root = data_root.resolve()
    if out_resolved == root or out_resolved.is_relative_to(root):
        raise EdgekitError(f"--out {out_dir} is inside the data directory {root}: edgekit never writes into your data; choose another folder")
    if out_resolved.exists() and not out_resolved.is_dir():
        raise EdgekitError(f"--out {out_dir} is an existing file, not a directory")
    return out_resolved


def plot_class_counts(report: AuditReport, path: Path) -> None:
    """Horizontal bars, one per class, with the mean as a line; the figure grows with the class count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = report.class_counts()
    names = list(counts)[::-1]  # first class at the top
    values = [counts[n] for n in names]
    mean = sum(values) / len(values)
    height = max(3.0, 0.28 * len(names) + 1.2)
    fig, ax = plt.subplots(figsize=(8, height))
    colors = ["tab:red" if v < 0.5 * mean else "tab:blue" for v in values]
    ax.barh(range(len(names)), values, color=colors)
    ax.set_yticks(range(len(names)), labels=names, fontsize=8 if len(names) > 30 else 10)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.axvline(mean, color="black", linestyle="--", linewidth=1, label=f"mean {mean:.1f}")
    ax.set_xlabel("readable images")
    ax.set_title(f"{len(names)} classes, {sum(values)} images (red: under half the mean)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")  # the path may be a temporary name
    plt.close(fig)


def plot_sizes(report: AuditReport, path: Path) -> None:
    """Width x height of every readable image (marker area grows with how many share a size)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = _size_counts(report.readable)
    fig, ax = plt.subplots(figsize=(6, 6))
    if sizes:
        (widths, heights), counts = zip(*sizes.keys()), list(sizes.values())
        largest = max(counts)
        ax.scatter(widths, heights, s=[20 + 280 * c / largest for c in counts], alpha=0.5, edgecolors="none")
        top = max(max(widths), max(heights)) * 1.05
        ax.plot([0, top], [0, top], color="grey", linewidth=0.8, linestyle=":", label="square")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.legend(loc="upper left")
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.set_title(f"image sizes: {len(sizes)} distinct, {len(report.readable)} images")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")  # the path may be a temporary name
    plt.close(fig)


def write_audit_outputs(report: AuditReport, out_dir: Path | str) -> list[Path]:
    """audit.json, class_counts.png and sizes.png in out_dir (created; never inside the data dir)."""
    out_dir = check_out_dir(Path(out_dir), report.root)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, counts_path, sizes_path = out_dir / "audit.json", out_dir / "class_counts.png", out_dir / "sizes.png"
    atomic_write_text(json_path, json.dumps(report.to_dict(), indent=2) + "\n")
    atomic_write(counts_path, lambda p: plot_class_counts(report, p))
    atomic_write(sizes_path, lambda p: plot_sizes(report, p))
    return [json_path, counts_path, sizes_path]
