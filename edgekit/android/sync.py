"""Copy exported artifacts into android_demo's assets: `edgekit android sync EXPORT_DIR`.

    sync_assets(export_dir, assets_dir, only=None) -> SyncResult

Every artifact folder under EXPORT_DIR (the folder itself, its children or grandchildren: an artifact folder,
`export/<model>` or `export/`) whose manifest the app can honour is copied with its manifest.json and labels.txt
to `assets_dir/models/<model>-<format>-<precision>/`, the layout the app reads (docs/contracts.md). The copied model
file's sha256 must equal the manifest's. TorchScript and Core ML are refused with the reason (no Android runtime
in the app), so are artifacts that failed verification and manifests the app cannot read.

Afterwards `assets_dir/models` holds exactly the synced artifacts. It is built in a hidden folder beside it and
swapped in only when every file is copied and checked: on any error (no manifests, a checksum mismatch, an
unknown `only` name, nothing runnable) the app's assets are left as they were.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgekit.errors import EdgekitError
from edgekit.fileio import replace_folder, sha256_file, staging_folder
from edgekit.formats import FORMATS
from edgekit.manifest import MANIFEST_NAME, Manifest, read_manifest

APP_INPUT_DTYPES = ("float32", "int8", "uint8")  # android_demo/core Manifest.DTYPES
MODELS_FOLDER = "models"


@dataclass
class SyncResult:
    copied: list[str] = field(default_factory=list)                 # asset folder names, e.g. mobilenet_v2-onnx-int8
    refused: list[tuple[str, str]] = field(default_factory=list)    # (artifact folder, reason)


def asset_name(manifest: Manifest) -> str:
    return manifest.name


def find_manifests(export_dir: Path) -> list[Path]:
    """manifest.json files in export_dir, its children and grandchildren (hidden temporary folders skipped)."""
    found = []
    for pattern in (MANIFEST_NAME, f"*/{MANIFEST_NAME}", f"*/*/{MANIFEST_NAME}"):
        for path in sorted(export_dir.glob(pattern)):
            if not any(part.startswith(".") for part in path.relative_to(export_dir).parts):
                found.append(path)
    return found


def app_labels(text: str) -> list[str]:
    """labels.txt as the app's parser reads it (android_demo/core Manifest.parse): split on newlines, a trailing
    carriage return trimmed from each line, one final empty line dropped; empty lines in between are kept."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def app_refusal(manifest: Manifest) -> str | None:
    """The reason the app cannot run this artifact (everything its manifest parser checks, and the files), or None."""
    row = FORMATS[manifest.format]
    if not row.runs_on_android:
        return row.android
    if manifest.status == "failed verification":
        return "it failed verification in edgekit export (parity with PyTorch): not bundled"
    if manifest.get("sha256_of", "file") != "file":
        return f"the artifact is a {manifest.get('sha256_of')}, not a single file"
    if manifest.input.dtype not in APP_INPUT_DTYPES:
        return f"input dtype {manifest.input.dtype} is not one the app feeds ({', '.join(APP_INPUT_DTYPES)})"
    if manifest.output.dtype not in APP_INPUT_DTYPES:
        return f"output dtype {manifest.output.dtype} is not one the app reads ({', '.join(APP_INPUT_DTYPES)})"
    if manifest["preprocessing"].get("channel_order", "RGB") != "RGB":
        return "the app feeds RGB images; the manifest asks for another channel order"
    if manifest.get("num_classes") != len(manifest.labels):
        return "the manifest has no num_classes equal to its number of labels (the app requires it)"
    if not manifest.path.is_file():
        return f"the artifact file {manifest.file} is missing"
    labels = manifest.labels_path
    if labels.exists():
        try:
            text = labels.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            return f"{labels.name} is not UTF-8 text (the app would refuse it)"
        except OSError as error:
            return f"{labels.name} cannot be read: {error.strerror or error}"
        if app_labels(text) != manifest.labels:
            return f"{labels.name} disagrees with the manifest's labels (the app would refuse it)"
    return None


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

    read: list[tuple[Path, Manifest | None, str | None]] = []
    for path in manifests:
        try:
            read.append((path.parent, read_manifest(path.parent), None))
        except EdgekitError as error:  # an unreadable or ill-typed manifest is refused, never copied
            read.append((path.parent, None, str(error)))
    if only is not None:
        known = {folder.name for folder, _, _ in read} | {m.name for _, m, _ in read if m is not None}
        unknown = [wanted for wanted in only if wanted not in known]
        if unknown:
            raise EdgekitError(f"--only {', '.join(unknown)}: no such artifact in {export_dir} "
                               f"(there are: {', '.join(sorted(known))})")

    result = SyncResult()
    chosen: list[Manifest] = []
    seen: dict[str, Path] = {}
    for folder, manifest, problem in read:
        label = str(folder.relative_to(export_dir)) if folder != export_dir else folder.name
        name = manifest.name if manifest is not None else label
        if only is not None and not any(wanted in (name, folder.name) for wanted in only):
            continue
        try:
            reason = problem or app_refusal(manifest)
        except EdgekitError as error:  # a path that leaves the folder
            reason = str(error)
        if reason is not None:
            result.refused.append((label, reason))
            continue
        if name in seen:
            raise EdgekitError(f"{seen[name]} and {folder} are both {name}: sync one export folder at a time")
        seen[name] = folder
        chosen.append(manifest)

    if not chosen:
        why = "; ".join(f"{label}: {reason}" for label, reason in result.refused)
        raise EdgekitError(f"nothing in {export_dir} that the app can run ({why})")

    try:
        assets_dir.mkdir(exist_ok=True)
        staging = staging_folder(assets_dir / MODELS_FOLDER, "sync")
    except OSError as error:
        raise EdgekitError(f"cannot write to {assets_dir}: {error.strerror or error}") from None
    try:
        for manifest in chosen:
            say(f"copying {manifest.name} ({manifest.folder.name}/{manifest.file})")
            _copy_artifact(manifest, staging / manifest.name)
            result.copied.append(manifest.name)
        replace_folder(staging, assets_dir / MODELS_FOLDER)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise EdgekitError(f"cannot write to {assets_dir}: {error.strerror or error}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def _copy_artifact(manifest: Manifest, target: Path) -> None:
    """Copy the model file, manifest and labels into `target` (inside the staging folder); the copy's sha256 must
    equal the manifest's before anything is swapped into the app's assets."""
    target.mkdir()
    source = manifest.path
    copied = target / manifest.file
    shutil.copyfile(source, copied)
    actual = sha256_file(copied)
    if actual != manifest.sha256:
        raise EdgekitError(f"{source}: sha256 {actual} does not match its manifest's {manifest.sha256} "
                           "(the artifact changed after export, or the copy is damaged): nothing synced")
    shutil.copyfile(manifest.folder / MANIFEST_NAME, target / MANIFEST_NAME)
    (target / "labels.txt").write_text("\n".join(manifest.labels) + "\n", encoding="utf-8")
