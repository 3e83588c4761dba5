"""`edgekit data prepare`: clean a folder-per-class data set and fix its split, without touching it.

The output is a *prepared directory* that `edgekit.data.folder.load_splits` (and so `edgekit
train --data OUT`) reads:

    OUT/classes.txt              one class name per line (label = line number - 1)
    OUT/source.txt               the absolute data directory the list entries are relative to
    OUT/train.txt, val.txt (, test.txt)   `path<TAB>label` per line
    OUT/augmented/<class>/...    horizontally flipped copies (--min-per-class), listed by absolute path
    OUT/dropped.txt              every file left out, with the reason
    OUT/prepare.json             options, seed, counts per class before and after, split sizes

Cleaning order: unreadable / non-image / non-UTF-8-named files (always), --min-side,
--min-aspect/--max-aspect, --drop-duplicates (the first file in path order is kept),
--max-per-class (a seeded random subset); then the seeded stratified split; then
--min-per-class tops up the *training* split of small classes with flipped copies of that
class's training images (at most one per image), so no copy of a validation image is trained on.

The user's files are only read. OUT is built in a hidden temporary folder beside it and renamed
into place at the end, so a failure leaves nothing half-written.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from PIL import Image

from edgekit.data.audit import ImageRecord, inspect_images, printable
from edgekit.data.folder import scan_image_folder, stratified_split, write_prepared_splits
from edgekit import contracts
from edgekit.errors import EdgekitError
from edgekit.fileio import remove_path, replace_folder, staging_folder, writable_folder
from edgekit.images import seeded_generator, shuffled
from edgekit.progress import OnProgress

AUGMENTED_DIR = "augmented"
PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}  # modes PNG can store as they are


@dataclass
class Dropped:
    path: Path
    kind: str  # unreadable, not-an-image, name-not-utf8, min-side, aspect, duplicate, max-per-class
    detail: str


@dataclass
class PrepareReport:
    out: Path
    source: Path
    classes: list[str]
    options: dict
    counts_before: dict[str, int]  # image files found per class
    splits: dict[str, list[tuple[Path, int]]]
    dropped: list[Dropped] = field(default_factory=list)
    augmented: list[Path] = field(default_factory=list)  # final paths under OUT/augmented
    shortfalls: dict[str, int] = field(default_factory=dict)  # class -> images still missing to reach --min-per-class

    def counts_after(self) -> dict[str, int]:
        counts = {name: 0 for name in self.classes}
        for samples in self.splits.values():
            for _, label in samples:
                counts[self.classes[label]] += 1
        return counts

    def split_counts(self) -> dict[str, dict[str, int]]:
        result = {}
        for name, samples in self.splits.items():
            counts = {c: 0 for c in self.classes}
            for _, label in samples:
                counts[self.classes[label]] += 1
            result[name] = counts
        return result

    def dropped_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.dropped:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        return counts

    def to_dict(self) -> dict:
        return {
            "schema": contracts.PREPARED,
            "source": str(self.source),
            "out": str(self.out),
            "options": self.options,
            "seed": self.options["seed"],
            "classes": self.classes,
            "counts_before": self.counts_before,
            "counts_after": self.counts_after(),
            "splits": self.split_counts(),
            "split_sizes": {name: len(samples) for name, samples in self.splits.items()},
            "dropped": self.dropped_counts(),
            "augmented": len(self.augmented),
            "shortfalls": self.shortfalls,
        }


# ----------------------------------------------------------------------------- checks

def check_options(*, min_side, min_aspect, max_aspect, max_per_class, min_per_class, val, test) -> None:
    if min_side is not None and min_side < 1:
        raise EdgekitError(f"--min-side must be at least 1 px, got {min_side}")
    for name, value in (("--min-aspect", min_aspect), ("--max-aspect", max_aspect)):
        if value is not None and value <= 0:
            raise EdgekitError(f"{name} is width / height and must be > 0, got {value}")
    if min_aspect is not None and max_aspect is not None and min_aspect > max_aspect:
        raise EdgekitError(f"--min-aspect {min_aspect} is larger than --max-aspect {max_aspect}")
    for name, value in (("--max-per-class", max_per_class), ("--min-per-class", min_per_class)):
        if value is not None and value < 1:
            raise EdgekitError(f"{name} must be at least 1, got {value}")
    if max_per_class is not None and min_per_class is not None and min_per_class > max_per_class:
        raise EdgekitError(f"--min-per-class {min_per_class} is larger than --max-per-class {max_per_class}")
    if not 0 < val < 1:
        raise EdgekitError(f"--val must be a fraction between 0 and 1 (exclusive), got {val}")
    if not 0 <= test < 1:
        raise EdgekitError(f"--test must be a fraction in [0, 1), got {test}")
    if val + test >= 1:
        raise EdgekitError(f"--val {val} + --test {test} leaves nothing to train on")


def check_out(out: Path, root: Path, overwrite: bool) -> Path:
    """The resolved output folder, or a clear refusal: never the data, never over unrelated files."""
    out = out.resolve()
    if out == root or out.is_relative_to(root):
        raise EdgekitError(f"--out {out} is inside the data directory {root}: edgekit never writes into your data; choose another folder")
    if root.is_relative_to(out):
        raise EdgekitError(f"--out {out} contains the data directory {root}; choose a folder beside it")
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"--out {out} is an existing file, not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise EdgekitError(f"--out {out} exists and is not empty; pass --overwrite to replace it")
        if not (out / "prepare.json").is_file():
            raise EdgekitError(f"--out {out} is not empty and was not written by `edgekit data prepare` (no prepare.json); "
                               "--overwrite only replaces a previous prepared directory")
    return out


# ----------------------------------------------------------------------------- cleaning

def _utf8_name(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def clean(records: list[ImageRecord], root: Path, *, min_side, min_aspect, max_aspect, drop_duplicates,
          max_per_class, seed) -> tuple[list[ImageRecord], list[Dropped]]:
    """The records that survive every requested filter, and why each other one was dropped."""
    kept, dropped = [], []
    first_with_hash: dict[str, Path] = {}
    for record in sorted(records, key=lambda r: r.path):
        reason = None
        if not record.readable:
            reason = ("unreadable", record.error)
        elif not _utf8_name(record.path):
            reason = ("name-not-utf8", "file name is not valid UTF-8 (split files are UTF-8 text)")
        elif min_side is not None and min(record.width, record.height) < min_side:
            reason = ("min-side", f"{record.width}x{record.height} has a side under {min_side} px")
        elif min_aspect is not None and record.aspect < min_aspect:
            reason = ("aspect", f"aspect ratio {record.aspect:.3g} (w/h) under {min_aspect}")
        elif max_aspect is not None and record.aspect > max_aspect:
            reason = ("aspect", f"aspect ratio {record.aspect:.3g} (w/h) over {max_aspect}")
        elif drop_duplicates and record.sha256 in first_with_hash:
            reason = ("duplicate", f"same bytes as {printable(first_with_hash[record.sha256].relative_to(root))}")
        if reason is None:
            first_with_hash.setdefault(record.sha256, record.path)
            kept.append(record)
        else:
            dropped.append(Dropped(record.path, *reason))
    if max_per_class is not None:
        kept, over = cap_per_class(kept, max_per_class, seed)
        dropped.extend(Dropped(r.path, "max-per-class", f"over --max-per-class {max_per_class} (seeded draw)") for r in over)
    return kept, dropped


def cap_per_class(records: list[ImageRecord], limit: int, seed: int) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """A seeded random `limit` of each class (kept, in path order) and the rest."""
    rng = seeded_generator(seed)
    by_class: dict[int, list[ImageRecord]] = {}
    for record in records:
        by_class.setdefault(record.label, []).append(record)
    kept, over = [], []
    for label in sorted(by_class):
        group = by_class[label]
        chosen = set(id(r) for r in shuffled(group, rng)[:limit])
        kept.extend(r for r in group if id(r) in chosen)
        over.extend(r for r in group if id(r) not in chosen)
    return sorted(kept, key=lambda r: r.path), over


def check_classes_left(kept: list[ImageRecord], classes: list[str]) -> None:
    present = {r.label for r in kept}
    empty = [name for i, name in enumerate(classes) if i not in present]
    if empty:
        raise EdgekitError(f"no images left after cleaning in class(es): {', '.join(empty)} — relax the filters "
                           "or remove those folders (nothing was written)")


# ----------------------------------------------------------------------------- top-up

def flipped_copy(source: Path, target: Path) -> None:
    """A horizontally mirrored PNG of source (lossless; CMYK and other non-PNG modes become RGB)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        flipped = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if flipped.mode not in PNG_MODES:
            flipped = flipped.convert("RGB")
        flipped.save(target, format="PNG")


def top_up(train: list[tuple[Path, int]], totals: dict[int, int], minimum: int, classes: list[str], root: Path,
           build_dir: Path, final_dir: Path) -> tuple[list[tuple[Path, int]], dict[str, int]]:
    """Flipped copies of training images for every class under `minimum` images in all (one per image at most).

    Files are written under build_dir/augmented; the returned samples carry their final paths
    (under final_dir), where they will be once the build folder is renamed.
    """
    added, shortfalls = [], {}
    for label, name in enumerate(classes):
        missing = minimum - totals.get(label, 0)
        if missing <= 0:
            continue
        sources = sorted(p for p, lab in train if lab == label)[:missing]
        for source in sources:
            relative = Path(AUGMENTED_DIR) / name / (source.relative_to(root / name).as_posix() + ".hflip.png")
            flipped_copy(source, build_dir / relative)
            added.append((final_dir / relative, label))
        if missing > len(sources):
            shortfalls[name] = missing - len(sources)
    return added, shortfalls


# ----------------------------------------------------------------------------- writing

def write_prepared(build_dir: Path, report: PrepareReport) -> None:
    write_prepared_splits(build_dir, report.classes, report.source, report.splits)
    lines = [f"{printable(d.path.relative_to(report.source).as_posix())}\t{d.kind}\t{printable(d.detail)}" for d in report.dropped]
    (build_dir / "dropped.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (build_dir / "prepare.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")


def resolve_aspect_range(aspect_range: Optional[tuple[float, float]], min_aspect: Optional[float],
                         max_aspect: Optional[float]) -> tuple[Optional[float], Optional[float]]:
    """(min, max) width/height from either --aspect-range LO HI or --min-aspect/--max-aspect, not both."""
    if aspect_range is None or all(v is None for v in aspect_range):
        return min_aspect, max_aspect
    if min_aspect is not None or max_aspect is not None:
        raise EdgekitError("give either --aspect-range LO HI or --min-aspect/--max-aspect, not both")
    low, high = aspect_range
    return low, high


@dataclass
class PrepareOptions:
    """The cleaning and splitting options of `edgekit data prepare`, with their defaults (the one place)."""
    min_side: Optional[int] = None
    min_aspect: Optional[float] = None  # width / height
    max_aspect: Optional[float] = None
    drop_duplicates: bool = False
    max_per_class: Optional[int] = None
    min_per_class: Optional[int] = None
    val: float = 0.2
    test: float = 0.0
    seed: int = 0

    @classmethod
    def from_flags(cls, *, aspect_range: Optional[tuple[float, float]] = None, **fields) -> "PrepareOptions":
        """From keyword options; `aspect_range=(lo, hi)` is the same as `min_aspect=lo, max_aspect=hi`."""
        options = cls(**fields)
        options.min_aspect, options.max_aspect = resolve_aspect_range(aspect_range, options.min_aspect, options.max_aspect)
        return options

    def check(self) -> None:
        check_options(min_side=self.min_side, min_aspect=self.min_aspect, max_aspect=self.max_aspect,
                      max_per_class=self.max_per_class, min_per_class=self.min_per_class, val=self.val, test=self.test)

    def to_dict(self) -> dict:
        return asdict(self)


def prepare_dataset(root: Path | str, out: Path | str, options: Optional[PrepareOptions] = None, *,
                    overwrite: bool = False, on_progress: OnProgress | None = None, **option_fields) -> PrepareReport:
    """Clean and split the class folder `root` into the prepared directory `out` (see the module doc).

    The options come as a PrepareOptions, or as its fields by keyword (plus `aspect_range=(lo, hi)`,
    the same as `min_aspect=lo, max_aspect=hi`), not both.
    """
    if options is not None and option_fields:
        raise TypeError("give prepare_dataset either a PrepareOptions or its fields by keyword, not both")
    options = options or PrepareOptions.from_flags(**option_fields)
    options.check()
    index = scan_image_folder(root)
    out = check_out(Path(out), index.root, overwrite)
    writable_folder(out.parent, "--out", create=False, shown=out)  # OUT is built beside itself: before decoding
    records = inspect_images(index.samples, on_progress=on_progress)

    kept, dropped = clean(records, index.root, min_side=options.min_side, min_aspect=options.min_aspect,
                          max_aspect=options.max_aspect, drop_duplicates=options.drop_duplicates,
                          max_per_class=options.max_per_class, seed=options.seed)
    dropped = [Dropped(p.resolve(), "not-an-image", reason) for p, reason in index.skipped] + dropped
    check_classes_left(kept, index.classes)

    val, test = options.val, options.test
    fractions = {"train": 1.0 - val - test, "val": val, **({"test": test} if test > 0 else {})}
    splits = stratified_split([(r.path, r.label) for r in kept], fractions, options.seed)
    splits.setdefault("test", [])  # test.txt is always written (empty without --test)

    counts_before = {name: 0 for name in index.classes}
    for _, label in index.samples:
        counts_before[index.classes[label]] += 1

    build_dir = staging_folder(out, "partial")  # built beside OUT, then swapped in whole (fileio.replace_folder)
    try:
        augmented, shortfalls = [], {}
        if options.min_per_class is not None:
            totals: dict[int, int] = {}
            for r in kept:
                totals[r.label] = totals.get(r.label, 0) + 1
            augmented, shortfalls = top_up(splits["train"], totals, options.min_per_class, index.classes, index.root,
                                           build_dir, out)
            splits["train"] = splits["train"] + augmented
        report = PrepareReport(out=out, source=index.root, classes=index.classes, options=options.to_dict(),
                               counts_before=counts_before, splits=splits, dropped=dropped,
                               augmented=[p for p, _ in augmented], shortfalls=shortfalls)
        write_prepared(build_dir, report)
        replace_folder(build_dir, out)
    finally:
        remove_path(build_dir)
    return report
