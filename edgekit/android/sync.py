"""Copy exported artifacts into android_demo's assets: `edgekit android sync EXPORT_DIR`.

    sync_assets(export_dir, assets_dir, only=None) -> SyncResult

Every artifact folder under EXPORT_DIR (the folder itself, its children or grandchildren: an artifact folder,
`export/<model>` or `export/`) whose manifest the app can honour is copied with its manifest.json and labels.txt
to `assets_dir/models/<model>-<format>-<precision>/`, the layout the app reads (CONTRACTS.md). The copied model
file's sha256 must equal the manifest's. TorchScript and Core ML are refused with the reason (no Android runtime
in the app), so are artifacts that failed verification and manifests the app cannot read.

Afterwards `assets_dir/models` holds exactly the synced artifacts. It is built in a hidden folder beside it and
swapped in only when every file is copied and checked: on any error (no manifests, a checksum mismatch, an
unknown `only` name, nothing runnable) the app's assets are left as they were.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgekit.errors import EdgekitError
from edgekit.fileio import sha256_file

MANIFEST_SCHEMA = "edgekit-manifest/1"
RUNNABLE_FORMATS = ("onnx", "tflite", "executorch")
REFUSED_FORMATS = {
    "coreml": "Core ML runs only on Apple platforms (iOS, macOS): the Android app has no runtime for .mlpackage",
    "torchscript": "TorchScript needs PyTorch Mobile, deprecated in favour of ExecuTorch: bundle the executorch "
                   "(.pte) artifact instead",
}
PRECISIONS = ("fp32", "fp16", "int8")
INPUT_DTYPES = ("float32", "int8", "uint8")
MODELS_FOLDER = "models"


@dataclass
class SyncResult:
    copied: list[str] = field(default_factory=list)                 # asset folder names, e.g. mobilenet_v2-onnx-int8
    refused: list[tuple[str, str]] = field(default_factory=list)    # (artifact folder, reason)


@dataclass
class _Artifact:
    folder: Path
    manifest: dict
    name: str            # <model>-<format>-<precision>, the asset folder


def asset_name(manifest: dict) -> str:
    return f"{manifest['model']}-{manifest['format']}-{manifest['precision']}"


def find_manifests(export_dir: Path) -> list[Path]:
    """manifest.json files in export_dir, its children and grandchildren (hidden temporary folders skipped)."""
    found = []
    for pattern in ("manifest.json", "*/manifest.json", "*/*/manifest.json"):
        for path in sorted(export_dir.glob(pattern)):
            if not any(part.startswith(".") for part in path.relative_to(export_dir).parts):
                found.append(path)
    return found


def _read_manifest(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EdgekitError(f"{path}: not a readable manifest ({error})") from error
    if not isinstance(data, dict):
        raise EdgekitError(f"{path}: not a manifest (a JSON object was expected)")
    return data


def _why_not(folder: Path, manifest: dict) -> str | None:
    """The reason the app cannot run this artifact, or None."""
    if manifest.get("schema") != MANIFEST_SCHEMA:
        return f"manifest schema {manifest.get('schema')!r} is not {MANIFEST_SCHEMA!r}, the one the app reads"
    fmt, precision = manifest.get("format"), manifest.get("precision")
    if fmt in REFUSED_FORMATS:
        return REFUSED_FORMATS[fmt]
    if fmt not in RUNNABLE_FORMATS:
        return f"unknown format {fmt!r} (the app runs {', '.join(RUNNABLE_FORMATS)})"
    if precision not in PRECISIONS:
        return f"unknown precision {precision!r} ({', '.join(PRECISIONS)})"
    for key in ("model", "file", "sha256", "input", "output", "preprocessing"):
        if key not in manifest:
            return f"the manifest has no {key!r}"
    if manifest.get("status") == "failed verification":
        return "it failed verification in edgekit export (parity with PyTorch): not bundled"
    if manifest.get("sha256_of", "file") != "file":
        return f"the artifact is a {manifest.get('sha256_of')}, not a single file"
    dtype = (manifest.get("input") or {}).get("dtype")
    if dtype not in INPUT_DTYPES:
        return f"input dtype {dtype!r} is not one the app feeds ({', '.join(INPUT_DTYPES)})"
    if not (folder / manifest["file"]).is_file():
        return f"the artifact file {manifest['file']} is missing"
    labels = folder / manifest.get("labels_file", "labels.txt")
    if not labels.is_file() and not manifest.get("labels"):
        return "no labels.txt and no labels in the manifest"
    return None


def _matches(artifact_folder: Path, name: str, wanted: str) -> bool:
    return wanted in (name, artifact_folder.name)


def sync_assets(export_dir: Path, assets_dir: Path, only: list[str] | None = None,
                on_progress: Callable[[str], None] | None = None) -> SyncResult:
    """Copy every artifact the app can run into assets_dir/models/; see the module docstring."""
    say = on_progress or (lambda message: None)
    export_dir, assets_dir = Path(export_dir), Path(assets_dir)
    if not export_dir.is_dir():
        raise EdgekitError(f"{export_dir}: no such folder (pass the folder `edgekit export` wrote, e.g. export/mobilenet_v2)")
    if not assets_dir.parent.is_dir():
        raise EdgekitError(f"{assets_dir.parent}: no such folder: is --app the android_demo folder?")
    manifests = find_manifests(export_dir)
    if not manifests:
        raise EdgekitError(f"{export_dir}: no manifest.json here or in its artifact folders: pass the folder "
                           "`edgekit export` wrote (e.g. export/mobilenet_v2)")

    read = [(path.parent, _read_manifest(path)) for path in manifests]
    if only is not None:
        known = {folder.name for folder, _ in read}
        known |= {asset_name(m) for _, m in read if all(k in m for k in ("model", "format", "precision"))}
        unknown = [wanted for wanted in only if wanted not in known]
        if unknown:
            raise EdgekitError(f"--only {', '.join(unknown)}: no such artifact in {export_dir} "
                               f"(there are: {', '.join(sorted(known))})")

    result = SyncResult()
    chosen: list[_Artifact] = []
    seen: dict[str, Path] = {}
    for folder, manifest in read:
        label = str(folder.relative_to(export_dir)) if folder != export_dir else folder.name
        name = asset_name(manifest) if all(k in manifest for k in ("model", "format", "precision")) else label
        if only is not None and not any(_matches(folder, name, wanted) for wanted in only):
            continue
        reason = _why_not(folder, manifest)
        if reason is not None:
            result.refused.append((label, reason))
            continue
        if name in seen:
            raise EdgekitError(f"{seen[name]} and {folder} are both {name}: sync one export folder at a time")
        seen[name] = folder
        chosen.append(_Artifact(folder, manifest, name))

    if not chosen:
        why = "; ".join(f"{label}: {reason}" for label, reason in result.refused)
        raise EdgekitError(f"nothing in {export_dir} that the app can run ({why})")

    assets_dir.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{MODELS_FOLDER}.sync-", dir=assets_dir))
    try:
        for artifact in chosen:
            say(f"copying {artifact.name} ({artifact.folder.name}/{artifact.manifest['file']})")
            _copy_artifact(artifact, staging / artifact.name)
            result.copied.append(artifact.name)
        _swap_in(staging, assets_dir / MODELS_FOLDER)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def _copy_artifact(artifact: _Artifact, target: Path) -> None:
    target.mkdir()
    manifest, folder = artifact.manifest, artifact.folder
    source = folder / manifest["file"]
    copied = target / manifest["file"]
    shutil.copyfile(source, copied)
    actual = sha256_file(copied)
    if actual != manifest["sha256"]:
        raise EdgekitError(f"{source}: sha256 {actual} does not match its manifest's {manifest['sha256']} "
                           "(the artifact changed after export, or the copy is damaged): nothing synced")
    shutil.copyfile(folder / "manifest.json", target / "manifest.json")
    labels = folder / manifest.get("labels_file", "labels.txt")
    if labels.is_file():
        shutil.copyfile(labels, target / "labels.txt")
    else:
        (target / "labels.txt").write_text("\n".join(manifest["labels"]) + "\n", encoding="utf-8")


def _swap_in(staging: Path, models: Path) -> None:
    """Replace `models` with `staging` by renames (the old folder is removed only once the new one is in place)."""
    staging.chmod(0o755)  # mkdtemp makes owner-only folders; the app build may run as another user
    old = None
    if models.exists():
        old = models.with_name(f".{models.name}.old-{staging.name.rsplit('-', 1)[-1]}")
        models.rename(old)
    try:
        staging.rename(models)
    except BaseException:
        if old is not None:
            old.rename(models)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
