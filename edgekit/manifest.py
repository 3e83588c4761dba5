"""The manifest: the one contract between an exported artifact, edgekit's later stages and the app.

This module is the only one that reads and writes `manifest.json` (schema "edgekit-manifest/1", documented
field by field in docs/manifest.md; every file edgekit writes for another stage is listed in docs/contracts.md);
every manifest it reads or writes passes `validate` first (edgekit.manifest_schema: each field's type and value).
It imports no torch.

    read_manifest(folder) -> Manifest          JSON, schema and every field's type, in one place
    open_manifest(folder, verify=True)         + the files: the model file inside the folder, its sha256,
                                               labels.txt (UTF-8, equal to the manifest's labels)
    build_manifest(...) -> dict                what export writes (write_manifest writes it atomically)
    inside(folder, name, what) -> Path         a path taken from a manifest, resolved and kept inside its folder

A manifest is untrusted input (a colleague's export, a download): a value of the wrong type, a path that leaves
its folder, labels that disagree with the outputs are one EdgekitError naming the file and the field, before
anything uses them.
"""
from __future__ import annotations

import hashlib
import json
import math
import platform
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_json, update_digest
from edgekit.manifest_schema import MANIFEST_SCHEMA, plain_name, tensor_spec, validate
from edgekit.preprocess import Preprocessing

MANIFEST_NAME = "manifest.json"
LABELS_NAME = "labels.txt"


class Manifest:
    """A validated manifest of the artifact folder `folder`. `raw` is the whole document; the properties are
    the checked fields."""

    def __init__(self, folder: Path, raw: dict):
        self.folder, self.raw = Path(folder), raw
        where = str(self.folder / MANIFEST_NAME)
        self.model = raw["model"]
        self.format = raw["format"]
        self.precision = raw["precision"]
        self.file = raw["file"]
        self.sha256 = raw["sha256"]
        self.labels = list(raw["labels"])
        self.preprocessing = Preprocessing.from_dict(raw["preprocessing"], where=f"{where}: preprocessing")
        self.input = tensor_spec(raw["input"], f"{where}: input")
        self.output = tensor_spec(raw["output"], f"{where}: output")

    # ------------------------------------------------------------------ dict-like access to the whole document
    def __getitem__(self, key: str):
        return self.raw[key]

    def get(self, key: str, default=None):
        return self.raw.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    # ------------------------------------------------------------------ derived facts, each derived here only
    @property
    def path(self) -> Path:
        """The model file, resolved inside the folder."""
        return inside(self.folder, self.file, "file")

    @property
    def labels_path(self) -> Path:
        return inside(self.folder, self.raw.get("labels_file", LABELS_NAME), "labels_file")

    @property
    def name(self) -> str:
        """`<model>-<format>-<precision>`: the app's asset folder name."""
        return f"{self.model}-{self.format}-{self.precision}"

    @property
    def input_shape(self) -> list[int]:
        """The input's static shape; a free (dynamic) dimension is taken as 1 for the batch, img_size elsewhere."""
        size = self.preprocessing.img_size
        shape = list(self.input.shape)
        return [(1 if i == 0 else size) if d is None else int(d) for i, d in enumerate(shape)]

    @property
    def size_bytes(self) -> int:
        return int(self.raw.get("size_bytes") or 0)

    @property
    def status(self) -> str | None:
        return self.raw.get("status")

    @property
    def parity(self) -> dict:
        return dict(self.raw.get("parity") or {})

    @property
    def weights(self):
        return self.raw.get("weights")

    def source_checkpoint(self) -> Path | None:
        """The edgekit checkpoint this artifact was exported from, when the manifest names one that still exists."""
        weights = self.raw.get("weights")
        if isinstance(weights, dict) and weights.get("source") == "checkpoint" and isinstance(weights.get("path"), str):
            path = Path(weights["path"])
            if path.is_file():
                return path
        return None


# ----------------------------------------------------------------------------- reading


def read_manifest(folder: Path | str) -> Manifest:
    """Read and validate `folder/manifest.json` (JSON, schema, every field's type); no file is opened but it."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise EdgekitError(f"{folder} has no {MANIFEST_NAME}: not an artifact folder from `edgekit export`") from None
    except IsADirectoryError:
        raise EdgekitError(f"{path} is a folder, not a manifest") from None
    except PermissionError:
        raise EdgekitError(f"{path} cannot be read: permission denied") from None
    except OSError as error:
        raise EdgekitError(f"{path} cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise EdgekitError(f"{path} is not UTF-8 text: not a manifest") from None
    except ValueError as error:
        raise EdgekitError(f"{path} is not valid JSON ({error})") from None
    validate(raw, path)
    return Manifest(folder, raw)


def inside(folder: Path | str, name: str, what: str = "path") -> Path:
    """`folder/name` resolved (symbolic links followed); an EdgekitError when it leaves `folder`."""
    folder = Path(folder)
    if not isinstance(name, str) or not plain_name(name):
        raise EdgekitError(f"{folder / MANIFEST_NAME}: '{what}' {name!r} is not a name inside the artifact folder")
    base = folder.resolve()
    target = (base / name).resolve()
    if target != base and base not in target.parents:
        raise EdgekitError(f"{folder / MANIFEST_NAME}: '{what}' {name!r} leads outside the artifact folder")
    return target


# ----------------------------------------------------------------------------- the files a manifest names


def sha256_path(path: Path) -> str:
    """sha256 of a file; of a directory (.mlpackage), of its relative paths and contents in sorted order."""
    digest = hashlib.sha256()
    if path.is_file():
        update_digest(digest, path)
        return digest.hexdigest()
    base = path.resolve()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        if base not in item.resolve().parents:
            raise EdgekitError(f"{item} links outside {path}")
        digest.update(item.relative_to(path).as_posix().encode("utf-8") + b"\0")
        update_digest(digest, item)
    return digest.hexdigest()


def read_labels_file(path: Path) -> list[str]:
    """labels.txt: UTF-8, one name per line (empty lines ignored); an EdgekitError otherwise."""
    return [line for line in _utf8_text(path, str(path)).splitlines() if line]


def _utf8_text(path: Path, name: str) -> str:
    """The file's text, or an EdgekitError naming it as `name` (not UTF-8, or unreadable)."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise EdgekitError(f"{name} is not UTF-8 text") from None
    except OSError as error:
        raise EdgekitError(f"{name} cannot be read: {error.strerror or error}") from None


def read_labels_input(path: Path) -> tuple[list[str], list[str]]:
    """--labels FILE, strictly: (labels, warnings). Lines end at "\n" (a "\r" before it is dropped); blank lines at
    the end are ignored, a blank line before a name is an error (it would shift every later class by one), and so
    is any other line-breaking character inside a line (U+2028, form feed, ...: split apart by readers that use
    splitlines). A name given twice is a warning (ImageNet has two "crane"s), not an error."""
    from edgekit.manifest_schema import LINE_BREAKS

    text = _utf8_text(path, f"--labels {path}")
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise EdgekitError(f"--labels {path}: line {number} is blank; every class needs a name (a blank line "
                               "would shift every later class by one)")
        odd = next((c for c in line if c in LINE_BREAKS), None)
        if odd is not None:
            raise EdgekitError(f"--labels {path}: line {number} holds the line-breaking character U+{ord(odd):04X}; "
                               "one name per line, separated by newlines only")
    warnings = []
    seen: dict[str, list[int]] = {}
    for number, line in enumerate(lines, 1):
        seen.setdefault(line, []).append(number)
    twice = {name: numbers for name, numbers in seen.items() if len(numbers) > 1}
    if twice:
        shown = "; ".join(f"{name!r} (lines {', '.join(map(str, numbers))})" for name, numbers in list(twice.items())[:3])
        warnings.append(f"--labels {path}: {len(twice)} name(s) given more than once: {shown}"
                        + ("; ..." if len(twice) > 3 else "") + "; predictions of those classes cannot be told apart")
    return lines, warnings


def verify_files(manifest: Manifest, check_sha256: bool = True) -> None:
    """The model file exists inside the folder and (check_sha256) matches the manifest's sha256; labels.txt, where
    present, is UTF-8 and equals the manifest's labels. One EdgekitError for the first problem."""
    path = manifest.path
    if not path.exists():
        raise EdgekitError(f"{manifest.folder}: the manifest names {manifest.file}, which is missing")
    if check_sha256:
        try:
            actual = sha256_path(path)
        except OSError as error:
            raise EdgekitError(f"{path} cannot be read: {error.strerror or error}") from None
        if actual != manifest.sha256:
            raise EdgekitError(f"{path}: sha256 {actual[:12]}… does not match the manifest's {manifest.sha256[:12]}… "
                               "(changed or corrupted since export)")
    labels_path = manifest.labels_path
    if labels_path.is_file():
        if read_labels_file(labels_path) != manifest.labels:
            raise EdgekitError(f"{labels_path} disagrees with the manifest's labels")
    elif labels_path.exists():
        raise EdgekitError(f"{labels_path} is not a file")


def open_manifest(folder: Path | str, verify: bool = True) -> Manifest:
    """read_manifest, then the files it names (verify=False skips only the sha256, never the path checks)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgekitError(f"{folder} is not a directory")
    manifest = read_manifest(folder)
    verify_files(manifest, check_sha256=verify)
    return manifest


def is_artifact_folder(path: Path | str) -> bool:
    return (Path(path) / MANIFEST_NAME).is_file()


# ----------------------------------------------------------------------------- writing (export)


def size_bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build_manifest(*, model_name: str, format_name: str, precision: str, artifact: Path, preprocessing: dict,
                   labels: list[str], weights, backend_facts: dict, input_shape: list[int],
                   source: dict | None = None) -> dict:
    """The manifest export writes beside `artifact` (its status, parity and calibration are added by export)."""
    from edgekit.version import __version__

    facts = dict(backend_facts)
    declared_input = facts.pop("input", {})
    declared_output = facts.pop("output", {})
    input_tensor = {"name": "input", "shape": input_shape, "dtype": "float32", "layout": "NCHW",
                    **{k: v for k, v in declared_input.items() if v is not None}}
    output_tensor = {"name": "logits", "shape": [input_shape[0], len(labels)], "dtype": "float32",
                     **{k: v for k, v in declared_output.items() if v is not None},
                     "meaning": "logits (unnormalised class scores, label order of `labels`); softmax for probabilities"}
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "model": model_name,
        "format": format_name,
        "precision": precision,
        "file": artifact.name,
        "size_bytes": size_bytes(artifact),
        "sha256": sha256_path(artifact),
        "sha256_of": "file" if artifact.is_file() else "directory: sorted relative paths and file contents",
        "input": input_tensor,
        "output": output_tensor,
        "preprocessing": {**preprocessing, "steps": preprocessing_steps(preprocessing)},
        "num_classes": len(labels),
        "labels": list(labels),
        "labels_file": LABELS_NAME,
        "weights": weights,
        "backend": facts,
        "versions": {"edgekit": __version__, "python": platform.python_version()},
    }
    if source is not None:
        manifest["source"] = source
    return manifest


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Validate, then write `folder/manifest.json` atomically: export never writes a manifest its readers refuse.
    A non-finite number (a cosine of constant outputs, say) is written as null: NaN and Infinity are not JSON,
    and the app's strict reader would refuse the whole manifest."""
    validate(manifest, folder / MANIFEST_NAME)
    return atomic_write_json(folder / MANIFEST_NAME, _finite(manifest))


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def preprocessing_steps(preprocessing: dict) -> list[str]:
    """The contract in words; docs/manifest.md ("Preprocessing, exactly") has every rounding rule."""
    size = preprocessing["img_size"]
    short = (16 * size + 7) // 14  # round(size / 0.875), in integers
    if preprocessing.get("resize") == "letterbox":
        geometry = (f"letterbox: resize so the longer side is {size} and the shorter is "
                    f"floor(shorter * {size} / longer + 1/2), at least 1; pad to {size}x{size} with the mean, "
                    "the smaller half of the padding on the top/left")
    elif preprocessing.get("resize") == "resize":  # a detector's: both sides to img_size, nothing cut
        geometry = f"resize both sides to {size} (the aspect ratio not kept; nothing cut or padded)"
    else:
        geometry = (f"resize so the shorter side is {short} and the longer floor({short} * longer / shorter); "
                    f"crop the centre {size}x{size} at offsets floor((resized - {size}) / 2)")
    return ["decode as 8-bit RGB (EXIF orientation applied, grey replicated, alpha over white)",
            "convert to float32 v / 255",
            geometry + " (resampling: antialiased triangle filter on float32, widths then heights, no rounding)",
            "subtract mean and divide by std per channel (RGB order), float32",
            "lay out as NCHW float32 (batch 1); int8/uint8 inputs: q = clamp(round_half_even(x / scale) + zero_point)",
            "exact contract: docs/manifest.md, 'Preprocessing, exactly'"]
