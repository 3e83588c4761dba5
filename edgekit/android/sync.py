"""Copy exported artifacts into android_demo's assets: `edgekit android sync EXPORT_DIR`.

Classifiers and detectors alike (manifest `task`): the app's screen follows the task (top-3 labels, or boxes over
the preview).

    sync_assets(export_dir, assets_dir, only=None) -> SyncResult

Every artifact folder under EXPORT_DIR (the folder itself, its children or grandchildren: an artifact folder,
`export/<model>` or `export/`) whose manifest the app can honour is copied with its manifest.json and labels.txt
to `assets_dir/models/<model>-<format>-<precision>/`, the layout the app reads (docs/contracts.md). TorchScript and
Core ML are refused with the reason (no Android runtime in the app), so are artifacts that failed verification,
manifests edgekit's reader refuses (edgekit.manifest: types, names inside the folder) and everything the app's own
parser would refuse (`app_refusal`: android_demo/core Manifest.parse and Json.parse, ModelAssets.load, checked line
by line), and model files that do not load in their runtime here or do not take what their manifest says
(edgekit.artifacts: the app's backends would fail on them). The model file's sha256 must equal the manifest's
before anything is copied, and the copy's too.

Afterwards `assets_dir/models` holds exactly the synced artifacts. It is built in a hidden folder beside it and
swapped in only when every file is copied and checked: on any error (no manifests, a checksum mismatch, an
unknown `only` name, nothing runnable) the app's assets are left as they were.
"""
from __future__ import annotations

import json
import numbers
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.fileio import remove_path, replace_folder, sha256_file, staging_folder, writable_folder
from edgekit.formats import FORMATS
from edgekit.manifest import MANIFEST_NAME, Manifest, read_manifest, sha256_path
from edgekit.progress import OnProgress, Reporter, reporter

APP_INPUT_DTYPES = ("float32", "int8", "uint8")  # android_demo/core Manifest.DTYPES
APP_TASKS = ("classification", "detection")  # Manifest.TASK_*: the manifest's task picks the app's screen
APP_DETECTION_RESIZE_RULES = ("resize", "letterbox")  # Manifest.DETECTION_RESIZE_RULES
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
    """The reason the app cannot run this artifact, or None: everything android_demo's Manifest.parse (with its
    strict Json reader) and ModelAssets.load check that edgekit's own reader lets through, and the files. Kept
    in step with android_demo/core/src/main/kotlin/dev/edgekit/core/Manifest.kt line by line."""
    row = FORMATS[manifest.format]
    if not row.runs_on_android:
        return row.android
    if manifest.status == "failed verification":
        return "it failed verification in edgekit export (parity with PyTorch): not bundled"
    task = manifest.get("task", "classification")
    if task not in APP_TASKS:
        return f"task {task} is not one the app runs ({', '.join(APP_TASKS)})"
    if manifest.get("sha256_of", "file") != "file":
        return f"the artifact is a {manifest.get('sha256_of')}, not a single file"
    strict = _strict_json_problem(manifest.folder / MANIFEST_NAME)
    if strict:
        return strict
    if manifest.input.dtype not in APP_INPUT_DTYPES:
        return f"input dtype {manifest.input.dtype} is not one the app feeds ({', '.join(APP_INPUT_DTYPES)})"
    if manifest.output.dtype not in APP_INPUT_DTYPES:
        return f"output dtype {manifest.output.dtype} is not one the app reads ({', '.join(APP_INPUT_DTYPES)})"
    raw_input = manifest["input"]
    layout = raw_input.get("layout") or "NCHW"  # Manifest.kt: a missing layout is NCHW, never inferred
    size = manifest.preprocessing.img_size
    expected = [1, 3, size, size] if layout == "NCHW" else [1, size, size, 3]
    dims = [1 if i == 0 and d is None else d for i, d in enumerate(raw_input["shape"])]
    if dims != expected:
        return (f"input shape {raw_input['shape']} is not the {layout} {expected} the app feeds at img_size {size}"
                + ("" if raw_input.get("layout") else " (no layout given: the app assumes NCHW)"))
    if manifest["preprocessing"].get("channel_order", "RGB") != "RGB":
        return "the app feeds RGB images; the manifest asks for another channel order"
    num_classes = manifest.get("num_classes")
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) \
            or num_classes != len(manifest.labels):
        return "the manifest has no num_classes equal to its number of labels (the app requires it)"
    if task == "detection":
        problem = _detector_problem(manifest)
        if problem:
            return problem
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


def _detector_problem(manifest: Manifest) -> str | None:
    """What android_demo's Manifest.parse checks in a detector's manifest (Manifest.kt, detectionSpec): the plain
    resize or letterbox rule, the `detection` block's numbers, and the output [1, num_anchors, 4 + classes]."""
    rule = manifest["preprocessing"].get("resize", "center_crop")
    if rule not in APP_DETECTION_RESIZE_RULES:
        return f"a detector's resize rule is one of {', '.join(APP_DETECTION_RESIZE_RULES)} in the app, got {rule}"
    block = manifest.get("detection")
    post = block.get("postprocess") if isinstance(block, dict) else None
    if not isinstance(post, dict):
        return "the detector's manifest has no detection.postprocess block (the app requires it)"
    anchors = block.get("num_anchors")
    if not _integer(anchors) or anchors < 1:
        return f"detection.num_anchors must be a positive integer for the app, got {anchors!r}"
    values = {key: post.get(key) for key in ("score_threshold", "iou_threshold", "max_detections", "candidates_per_class")}
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values.values()) \
            or not (_integer(values["max_detections"]) and _integer(values["candidates_per_class"])) \
            or not (0 <= values["score_threshold"] < 1 and 0 < values["iou_threshold"] <= 1
                    and values["max_detections"] >= 1 and values["candidates_per_class"] >= 1):
        return f"detection.postprocess is not what the app reads (numbers in range, integer counts): {values}"
    expected = [1, anchors, 4 + len(manifest.labels)]
    shape = manifest["output"].get("shape")
    dims = [1 if i == 0 and d is None else d for i, d in enumerate(shape)] if isinstance(shape, list) else None
    if shape is not None and dims != expected:
        return f"a detector's output must be {expected} ([1, anchors, 4 + classes]) for the app, the manifest says {shape}"
    return None


def _integer(value) -> bool:
    """An integer as the app's JSON reader sees it (a double with no fraction), never a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer()


def _strict_json_problem(path: Path) -> str | None:
    """The app's JSON reader (core Json.kt) is strict RFC 8259: NaN and Infinity, which Python's json reads, make
    the whole manifest unreadable there."""
    def refuse(constant: str):
        raise ValueError(constant)

    try:
        json.loads(path.read_bytes().decode("utf-8"), parse_constant=refuse)
    except ValueError as error:
        return f"{MANIFEST_NAME} holds {error}, which is not JSON (RFC 8259): the app's reader would refuse it"
    except OSError as error:
        return f"{MANIFEST_NAME} cannot be read: {error.strerror or error}"
    return None


def load_refusal(manifest: Manifest) -> str | None:
    """The model file loaded in its runtime here (onnxruntime, LiteRT, ExecuTorch: the runtimes the app uses)
    with its tensors checked against the manifest; the reason when it does not load or does not match."""
    from edgekit.artifacts import Artifact

    if not FORMATS[manifest.format].runs_here()[0]:
        return None  # nothing to load it with here; the app's backend checks it on the phone
    from edgekit.logcapture import captured

    try:
        with captured(None):  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" and the like: not the console
            Artifact(manifest.folder, manifest).runtime()
    except EdgekitError as error:
        return str(error)
    return None


def sync_assets(export_dir: Path, assets_dir: Path, only: list[str] | None = None,
                on_progress: OnProgress | Reporter | None = None) -> SyncResult:
    """Copy every artifact the app can run into assets_dir/models/; see the module docstring."""
    say = reporter(on_progress).stage
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
        if reason is None:
            _check_sha256(manifest)  # a file changed since export stops the whole sync: nothing is copied
            reason = load_refusal(manifest)
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

    writable_folder(assets_dir, "the app's assets folder")
    try:
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
        remove_path(staging)
        raise EdgekitError(f"cannot write to {assets_dir}: {error.strerror or error}") from None
    except BaseException:
        remove_path(staging)
        raise
    return result


def _mismatch(path: Path, actual: str, manifest: Manifest) -> EdgekitError:
    return EdgekitError(f"{path}: sha256 {actual} does not match its manifest's {manifest.sha256} "
                        "(the artifact changed after export, or the copy is damaged): nothing synced")


def _check_sha256(manifest: Manifest) -> None:
    try:
        actual = sha256_path(manifest.path)
    except OSError as error:
        raise EdgekitError(f"{manifest.path} cannot be read: {error.strerror or error}") from None
    if actual != manifest.sha256:
        raise _mismatch(manifest.path, actual, manifest)


def _copy_artifact(manifest: Manifest, target: Path) -> None:
    """Copy the model file, manifest and labels into `target` (inside the staging folder); the copy's sha256 must
    equal the manifest's, and the copied manifest must be the one that was checked, before anything is swapped
    into the app's assets."""
    target.mkdir()
    source = manifest.path
    copied = target / manifest.file
    shutil.copyfile(source, copied)
    actual = sha256_file(copied)
    if actual != manifest.sha256:
        raise _mismatch(source, actual, manifest)
    shutil.copyfile(manifest.folder / MANIFEST_NAME, target / MANIFEST_NAME)
    try:
        same = json.loads((target / MANIFEST_NAME).read_bytes().decode("utf-8")) == manifest.raw
    except ValueError:
        same = False
    if not same:
        raise EdgekitError(f"{manifest.folder / MANIFEST_NAME} changed while it was being synced: nothing synced")
    (target / "labels.txt").write_text("\n".join(manifest.labels) + "\n", encoding="utf-8")
