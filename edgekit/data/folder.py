"""A folder-per-class data set (torchvision ImageFolder layout) and its seeded, stratified splits.

    DIR/<class name>/<image file>

A *prepared* directory (written by `edgekit data prepare`) also holds `classes.txt` and
`train.txt` / `val.txt` / optional `test.txt`: one `relative/path<TAB>class index` per line,
relative to the directory that holds the class folders (recorded in `source.txt`). A line may
also hold an absolute path: prepare's flipped copies live under the prepared directory, outside
the user's data directory, which edgekit never writes into.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_text
from edgekit.images import seeded_generator, shuffled
from edgekit.paths import IMAGE_SUFFIXES

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class ImageFolderIndex:
    root: Path
    classes: list[str]
    samples: list[tuple[Path, int]]  # (absolute path, class index)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, reason): never silent


@dataclass
class Splits:
    root: Path  # where the class folders are
    classes: list[str]
    train: list[tuple[Path, int]]
    val: list[tuple[Path, int]]
    test: list[tuple[Path, int]] = field(default_factory=list)


def _decodable(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # os.listdir gives surrogate escapes for bytes that are not UTF-8
        return False


def _walk(folder: Path) -> tuple[list[Path], str | None]:
    """Every path under `folder`, sorted; or the reason a folder in it cannot be listed (Path.rglob would skip
    it silently, and an unreadable class folder would look empty)."""
    import os

    found, problem = [], None

    def failed(error: OSError) -> None:
        nonlocal problem
        if problem is None:
            where = Path(error.filename) if error.filename else folder
            inner = "" if where == folder else f"{where.relative_to(folder)}: "
            problem = f"{inner}{error.strerror or error}"

    for directory, dirnames, filenames in os.walk(folder, onerror=failed):
        base = Path(directory)
        found.extend(base / name for name in dirnames + filenames)
    return sorted(found), problem


def scan_image_folder(root: Path | str, *, min_classes: int = 2) -> ImageFolderIndex:
    """List the class folders and their image files, with a clear error for every unusable layout."""
    root = Path(root)
    if not root.exists():
        raise EdgekitError(f"data directory not found: {root}")
    if not root.is_dir():
        raise EdgekitError(f"data path is not a directory: {root}")
    try:
        class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as error:
        raise EdgekitError(f"data directory {root} cannot be read: {error.strerror or error}") from None
    bad_names = [p for p in class_dirs if not _decodable(p.name)]
    if bad_names:
        shown = ", ".join(repr(p.name.encode("utf-8", "surrogateescape"))[1:] for p in bad_names[:3])
        raise EdgekitError(f"class folder names must be valid UTF-8 (they become labels in every artifact): {shown} in {root}")
    if not class_dirs:
        raise EdgekitError(f"{root} has no class folders: expected DIR/<class>/<image> (the ImageFolder layout)")
    samples, skipped, empty, unreadable = [], [], [], []
    for index, class_dir in enumerate(class_dirs):
        found = 0
        paths, problem = _walk(class_dir)
        if problem:
            unreadable.append(f"{class_dir.name} ({problem})")
            continue
        for path in paths:
            if not path.is_file() or path.name.startswith("."):
                continue
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append((path.resolve(), index))
                found += 1
            else:
                skipped.append((path, "not an image file (by extension)"))
        if found == 0:
            empty.append(class_dir.name)
    if unreadable:
        raise EdgekitError(f"class folder(s) in {root} cannot be read: {', '.join(unreadable)} — fix the permissions "
                           "or remove the folder")
    if empty:
        raise EdgekitError(f"empty class folder(s) in {root}: {', '.join(empty)} — add images or remove the folder")
    if len(class_dirs) < min_classes:
        raise EdgekitError(f"{root} has {len(class_dirs)} class folder; a classifier needs at least {min_classes}")
    return ImageFolderIndex(root=root.resolve(), classes=[p.name for p in class_dirs], samples=samples, skipped=skipped)


def stratified_split(samples: list[tuple[Path, int]], fractions: dict[str, float], seed: int) -> dict[str, list]:
    """Split each class by the same fractions (seeded), so every split keeps the class balance.

    Every class with at least two images puts at least one in train and one in val.
    """
    by_class: dict[int, list] = {}
    for sample in samples:
        by_class.setdefault(sample[1], []).append(sample)
    rng = seeded_generator(seed)
    out = {name: [] for name in fractions}
    for label in sorted(by_class):
        items = shuffled(sorted(by_class[label]), rng)
        start = 0
        names = [n for n in fractions if n != "train"]
        for name in names:
            count = round(len(items) * fractions[name])
            if name == "val" and len(items) >= 2:
                count = max(count, 1)
            count = min(count, max(len(items) - start - 1, 0))  # leave at least one for train
            out[name].extend(items[start:start + count])
            start += count
        out["train"].extend(items[start:])
    return out


def read_split_file(path: Path, root: Path, n_classes: int) -> list[tuple[Path, int]]:
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            relative, label = line.rsplit("\t", 1)
            label_index = int(label)
        except ValueError:
            raise EdgekitError(f"{path}:{number}: expected 'relative/path<TAB>class index'") from None
        if not 0 <= label_index < n_classes:
            raise EdgekitError(f"{path}:{number}: class index {label_index} outside 0..{n_classes - 1}")
        entries.append(((root / relative).resolve(), label_index))
    return entries


def _list_entry(path: Path, root: Path) -> str:
    """A path relative to root; a file outside root (e.g. a copy made by `edgekit data prepare`
    under the prepared directory) is written as an absolute path, which read_split_file accepts."""
    path = Path(path).resolve()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def write_split_file(path: Path, samples: list[tuple[Path, int]], root: Path) -> None:
    lines = [f"{_list_entry(p, root)}\t{label}" for p, label in samples]
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def write_prepared_splits(directory: Path | str, classes: list[str], source: Path | str,
                          splits: dict[str, list[tuple[Path, int]]]) -> Path:
    """The one writer of the prepared-directory format (`edgekit data prepare`'s output and a
    run's splits/): classes.txt, source.txt and one `<split>.txt` per entry of `splits`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "classes.txt", "\n".join(classes) + "\n")
    atomic_write_text(directory / "source.txt", str(source) + "\n")
    for name, samples in splits.items():
        write_split_file(directory / f"{name}.txt", samples, Path(source))
    return directory


def subset_per_class(samples: list[tuple[Path, int]], max_images: int, seed: int) -> list[tuple[Path, int]]:
    """A seeded subset keeping the class balance (round-robin over the shuffled classes)."""
    by_class: dict[int, list] = {}
    for sample in sorted(samples):
        by_class.setdefault(sample[1], []).append(sample)
    rng = seeded_generator(seed)
    for label in by_class:
        by_class[label] = shuffled(by_class[label], rng)
    chosen, round_index = [], 0
    while len(chosen) < max_images and any(round_index < len(v) for v in by_class.values()):
        for label in sorted(by_class):
            if round_index < len(by_class[label]) and len(chosen) < max_images:
                chosen.append(by_class[label][round_index])
        round_index += 1
    return chosen


def is_prepared(directory: Path) -> bool:
    return (directory / "classes.txt").is_file() and (directory / "train.txt").is_file()


def load_splits(data_dir: Path | str, *, val_fraction: float = 0.2, test_fraction: float = 0.0,
                seed: int = 0) -> Splits:
    """A prepared directory's split files, or a seeded stratified split of a raw class folder."""
    data_dir = Path(data_dir)
    if data_dir.is_dir() and is_prepared(data_dir):
        classes = (data_dir / "classes.txt").read_text(encoding="utf-8").splitlines()
        source = data_dir / "source.txt"
        root = Path(source.read_text(encoding="utf-8").strip()) if source.is_file() else data_dir
        splits = {name: read_split_file(data_dir / f"{name}.txt", root, len(classes)) if (data_dir / f"{name}.txt").is_file() else []
                  for name in SPLIT_NAMES}
        missing = [p for name in SPLIT_NAMES for p, _ in splits[name] if not p.is_file()]
        if missing:
            raise EdgekitError(f"{len(missing)} file(s) listed in {data_dir} no longer exist, e.g. {missing[0]}")
        if not splits["val"]:
            raise EdgekitError(f"{data_dir} has an empty validation split")
        return Splits(root=root, classes=classes, **splits)
    index = scan_image_folder(data_dir)
    fractions = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction}
    if test_fraction > 0:
        fractions["test"] = test_fraction
    parts = stratified_split(index.samples, fractions, seed)
    return Splits(root=index.root, classes=index.classes, train=parts["train"], val=parts["val"], test=parts.get("test", []))
