"""What an export reports: one `ArtifactResult` per (format, precision) and the `ExportSummary`, written as
OUT/<model>/summary.json (schema "edgekit-summary/1", docs/contracts.md) and read back by the report.

Torch-free: the CLI renders these, the report reads summary.json through `read_summary`.
"""
from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from edgekit import contracts
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_json
from edgekit.manifest_schema import parity_problem, weights_problem

SUMMARY_SCHEMA = contracts.SUMMARY
SUMMARY_NAME = "summary.json"
STATUS_SYMBOLS = {"verified": "✅", "exported, not judged": "☑️", "exported, not run here": "☑️",
                  "failed verification": "❎", "failed to export": "❌", "skipped": "⏭"}


@dataclass
class ArtifactResult:
    format: str
    precision: str
    status: str  # a key of STATUS_SYMBOLS
    folder: Path | None = None
    size_bytes: int | None = None
    seconds: float | None = None
    parity: dict | None = None
    reason: str = ""
    extra: dict = field(default_factory=dict)  # a few backend facts worth a table column (delegation, integer)

    @property
    def symbol(self) -> str:
        return STATUS_SYMBOLS[self.status]

    @property
    def failed(self) -> bool:
        return self.status in ("failed verification", "failed to export")

    def to_dict(self) -> dict:
        return {"format": self.format, "precision": self.precision, "status": self.status,
                "folder": str(self.folder) if self.folder else None, "size_bytes": self.size_bytes,
                "seconds": self.seconds, "parity": self.parity, "reason": self.reason, **self.extra}


@dataclass
class ExportSummary:
    model_name: str
    folder: Path
    weights: dict | str
    results: list[ArtifactResult]
    parity_images: str
    calibration: str | None = None  # which images calibrated int8 (None: no int8)
    notes: list[str] = field(default_factory=list)  # export-wide warnings, said once
    log: Path | None = None  # third-party output of the converters
    source: dict | None = None  # where the model came from (kind, name, file, sha256)

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    @property
    def failures(self) -> list[ArtifactResult]:
        return [r for r in self.results if r.failed]

    def to_dict(self) -> dict:
        return {"schema": SUMMARY_SCHEMA, "model": self.model_name, "folder": str(self.folder), "weights": self.weights,
                "source": self.source, "parity_images": self.parity_images, "calibration": self.calibration,
                "notes": self.notes, "log": str(self.log) if self.log else None,
                "artifacts": [r.to_dict() for r in self.results]}


def write_summary(summary: ExportSummary, path: Path | None = None) -> Path:
    """summary.json, atomically, at `path` (default: the summary's folder; export writes it in its staging folder
    and moves it in place with the artifacts)."""
    return atomic_write_json(path or summary.folder / SUMMARY_NAME, summary.to_dict())


def read_summary(folder: Path | str) -> dict:
    """summary.json of an export folder, its shape checked (a summary written before versioning, without
    `schema`, is read the same way); one EdgekitError naming the problem."""
    path = Path(folder) / SUMMARY_NAME
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise EdgekitError(f"{Path(folder)} has no {SUMMARY_NAME}: give an export folder "
                           "(edgekit export MODEL --out OUT writes OUT/<model>/summary.json)") from None
    except OSError as error:
        raise EdgekitError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise EdgekitError(f"{path} is not valid UTF-8 JSON ({error})") from None
    if not isinstance(data, dict):
        raise EdgekitError(f"{path} is not an export summary (a JSON object was expected)")
    if data.get("schema", SUMMARY_SCHEMA) != SUMMARY_SCHEMA:
        raise EdgekitError(f"{path}: schema {data.get('schema')!r} is not {SUMMARY_SCHEMA!r}")
    rows = data.get("artifacts", [])
    if not isinstance(rows, list):
        raise EdgekitError(f"{path}: 'artifacts' must be a list")
    for index, row in enumerate(rows):
        where = f"{path}: artifacts[{index}]"
        if not isinstance(row, dict):
            raise EdgekitError(f"{where} must be an object")
        for key in ("format", "precision", "status"):
            if not isinstance(row.get(key), str):
                raise EdgekitError(f"{where}: '{key}' must be a string")
        if row["status"] not in STATUS_SYMBOLS:
            raise EdgekitError(f"{where}: unknown status {row['status']!r}")
        for key in ("folder", "reason"):
            if row.get(key) is not None and not isinstance(row[key], str):
                raise EdgekitError(f"{where}: '{key}' must be a string")
        if row.get("size_bytes") is not None and not (isinstance(row["size_bytes"], numbers.Integral)
                                                      and not isinstance(row["size_bytes"], bool)):
            raise EdgekitError(f"{where}: 'size_bytes' must be an integer")
        for key in ("parity", "delegation", "integer"):
            if row.get(key) is not None and not isinstance(row[key], dict):
                raise EdgekitError(f"{where}: '{key}' must be an object")
        problem = parity_problem(row.get("parity"))
        if problem:
            raise EdgekitError(f"{where}: 'parity' {problem}")
    for key in ("model", "parity_images", "calibration"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise EdgekitError(f"{path}: '{key}' must be a string")
    problem = weights_problem(data.get("weights"))
    if problem:
        raise EdgekitError(f"{path}: 'weights' {problem}")
    if data.get("notes") is not None and not (isinstance(data["notes"], list)
                                              and all(isinstance(n, str) for n in data["notes"])):
        raise EdgekitError(f"{path}: 'notes' must be a list of strings")
    return data


EARLIER_MARK = "from_earlier_export"  # a summary row kept from an earlier export into the same folder


def carry_over(out_dir: Path, staged_summary: Path, made: set[Path], program: Path | None = None) -> list[Path]:
    """After an export into `out_dir` (its summary.json staged at `staged_summary`, `made` the final paths it
    writes or removes): the paths of an earlier export there that must go, and the rows that may stay.

    An earlier artifact folder this export did not make stays only when it is the same model: the new summary's
    `weights` (a file with its sha256: a checkpoint, a weights file, a program; compared by kind and sha256) are
    the earlier summary's and the folder's own manifest's, and the earlier summary lists it. Its row is then added to the new summary.json, marked
    `from_earlier_export`, so the summary vouches for every artifact in the folder. Anything else (random or other
    weights, a folder the earlier summary does not list, an unreadable summary or manifest) is returned to be
    removed, with `program` (an earlier source.pt2) unless it stays with them."""
    from edgekit.artifacts import artifact_folders
    from edgekit.manifest import read_manifest

    stale = [folder for folder in artifact_folders(out_dir) if folder not in made]
    if program is not None and program not in made and (program.exists() or program.is_symlink()):
        stale.append(program)
    if not stale:
        return []
    new = json.loads(staged_summary.read_text(encoding="utf-8"))
    weights = new.get("weights")
    try:
        earlier = read_summary(out_dir) if (out_dir / SUMMARY_NAME).is_file() else None
    except EdgekitError:
        earlier = None
    identity = _weights_identity(weights)
    same = identity is not None and earlier is not None and _weights_identity(earlier.get("weights")) == identity
    if not same:
        return stale
    rows = {Path(row["folder"]).name: row for row in earlier.get("artifacts", [])
            if isinstance(row.get("folder"), str) and row.get("status") != "skipped"}
    removed, kept = [], []
    for folder in stale:
        if folder == program:
            continue
        try:
            manifest_weights = read_manifest(folder).raw.get("weights")
        except EdgekitError:
            manifest_weights = None
        if folder.name in rows and _weights_identity(manifest_weights) == identity:
            kept.append({**rows[folder.name], "folder": str(out_dir / folder.name), EARLIER_MARK: True})
        else:
            removed.append(folder)
    if program in stale and not kept:
        removed.append(program)
    if kept:
        new["artifacts"] = new.get("artifacts", []) + kept
        atomic_write_json(staged_summary, new)
    return removed


def _weights_identity(weights) -> tuple | None:
    """(kind, sha256) of a summary's or manifest's `weights`; None for random weights or no file."""
    if isinstance(weights, dict) and isinstance(weights.get("sha256"), str):
        return weights.get("source"), weights["sha256"]
    return None
