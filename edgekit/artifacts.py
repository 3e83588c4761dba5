"""Open exported artifacts: an artifact folder (manifest.json + model file + labels.txt) or an export
folder holding several, each checked against its manifest's sha256 before anything uses it.

    find_artifacts(path) -> list[Artifact]     PATH is one artifact folder or an export folder
    open_artifact(folder) -> Artifact          one folder; the checksum is verified
    Artifact.predictor()                       the artifact in its own runtime (export/base.FORMATS backend)

Used by `edgekit bench`, `edgekit eval` and `edgekit predict`. Bad input (no manifest, unreadable
manifest, missing file, checksum mismatch, unknown format) is an EdgekitError in one line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.export.base import FORMATS
from edgekit.export.manifest import LABELS_NAME, MANIFEST_NAME, MANIFEST_SCHEMA, sha256_path
from edgekit.preprocess import Preprocessing


@dataclass
class Artifact:
    folder: Path
    manifest: dict

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    @property
    def path(self) -> Path:
        return self.folder / self.manifest["file"]

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_dict(self.manifest["preprocessing"])

    @property
    def input_shape(self) -> list[int]:
        """The input's static shape; a dynamic batch dimension (None) is taken as 1."""
        shape = self.manifest["input"].get("shape") or [1, 3, self.preprocessing.img_size, self.preprocessing.img_size]
        return [1 if d is None else int(d) for d in shape]

    @property
    def size_bytes(self) -> int:
        return int(self.manifest["size_bytes"])

    def runs_here(self) -> tuple[bool, str]:
        return FORMATS[self.format].backend().runs_here()

    def predictor(self):
        """The artifact loaded in its own runtime (normalised float32 NCHW in, float32 logits out)."""
        runs, why_not = self.runs_here()
        if not runs:
            raise EdgekitError(f"{self.folder}: {self.format} cannot run here: {why_not}")
        return FORMATS[self.format].backend().load_predictor(self.path, self.manifest)

    @property
    def parity_top1(self) -> tuple[float | None, str]:
        """(artifact_top1 %, on which images) recorded by the export's parity check; None when unlabelled."""
        parity = self.manifest.get("parity") or {}
        return parity.get("artifact_top1"), parity.get("images", "")


def is_artifact_folder(path: Path) -> bool:
    return (Path(path) / MANIFEST_NAME).is_file()


def read_manifest(folder: Path) -> dict:
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgekitError(f"{folder} has no {MANIFEST_NAME}: not an artifact folder from `edgekit export`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EdgekitError(f"{folder / MANIFEST_NAME} cannot be read: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise EdgekitError(f"{folder / MANIFEST_NAME} is not an {MANIFEST_SCHEMA} manifest")
    missing = [k for k in ("model", "format", "precision", "file", "sha256", "input", "preprocessing", "labels")
               if k not in manifest]
    if missing:
        raise EdgekitError(f"{folder / MANIFEST_NAME} lacks {', '.join(missing)}")
    if manifest["format"] not in FORMATS:
        raise EdgekitError(f"{folder / MANIFEST_NAME}: unknown format '{manifest['format']}'")
    return manifest


def open_artifact(folder: Path | str, verify: bool = True) -> Artifact:
    """Read the manifest and (verify=True) check the file's sha256 against it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgekitError(f"{folder} is not a directory")
    manifest = read_manifest(folder)
    artifact = Artifact(folder, manifest)
    if not artifact.path.exists():
        raise EdgekitError(f"{folder}: the manifest names {manifest['file']}, which is missing")
    if verify:
        actual = sha256_path(artifact.path)
        if actual != manifest["sha256"]:
            raise EdgekitError(f"{artifact.path}: sha256 {actual[:12]}… does not match the manifest's "
                               f"{str(manifest['sha256'])[:12]}… (changed or corrupted since export)")
    labels_file = folder / manifest.get("labels_file", LABELS_NAME)
    if labels_file.is_file():
        labels = [line for line in labels_file.read_text(encoding="utf-8").splitlines() if line]
        if labels != manifest["labels"]:
            raise EdgekitError(f"{labels_file} disagrees with the manifest's labels")
    return artifact


def find_artifacts(path: Path | str, verify: bool = True) -> list[Artifact]:
    """PATH itself when it is an artifact folder, else every artifact folder directly inside it (sorted)."""
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path} does not exist")
    if not path.is_dir():
        raise EdgekitError(f"{path} is not a directory: give an artifact folder or an export folder")
    if is_artifact_folder(path):
        return [open_artifact(path, verify)]
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and is_artifact_folder(p))
    if not folders:
        raise EdgekitError(f"{path} holds no {MANIFEST_NAME}: give an artifact folder or an export folder "
                           f"(OUT/<model>/ from `edgekit export`)")
    return [open_artifact(folder, verify) for folder in folders]


def export_folder_of(path: Path | str) -> Path:
    """Where bench.json goes: the export folder (PATH, or its parent when PATH is one artifact folder)."""
    path = Path(path)
    return path.parent if is_artifact_folder(path) else path
