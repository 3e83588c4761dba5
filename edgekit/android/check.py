"""`edgekit android check`: the app's preprocessing (android_demo/core on the JVM) against edgekit's, on any images.

For each image and each ONNX/TFLite artifact of an export: the JVM tool `android_demo/core/preprocess.sh` writes the
app's input tensor; edgekit computes its own (`Preprocessing` + the artifact's input quantization); both go through
the host runtime (onnxruntime, LiteRT). Agreement = tensors within the documented tolerance (lossless images:
bit-equal float32 and every int8/uint8 value equal; JPEG: `fixtures.JPEG_TOLERANCE`) and the same top-1. The Kotlin
JUnit tests (android_demo/core/test.sh) compare tensors only; the top-1 through the artifact
is checked here, in Python, where the host runtimes are.

A detector (manifest `task: detection`): the same tensor comparison, then the app's postprocessing on the JVM
(`android_demo/core/postprocess.sh`: core's DetectionPostprocessor and BoxMapping on the host runtime's output for
the app's tensor) against edgekit's (edgekit.detection_post.postprocess and detection_metrics.to_image_boxes on
the output for edgekit's tensor): boxes matched (same class, IoU >= 0.5; edgekit.detection_post.match_detections),
their mean IoU and the largest score difference. Agreement = the tensors agree and every box of edgekit's, of
those scored at least DETECTION_REPORT_SCORE, is matched by the app's (the lower-scored ones are reported too).
"""
from __future__ import annotations

import json
import math
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.android.fixtures import JPEG_TOLERANCE, PNG_TOLERANCE, QUANTIZED_STEPS
from edgekit.android.runtime import find_artifacts
from edgekit.artifacts import Artifact
from edgekit.errors import EdgekitError
from edgekit.paths import REPO_ROOT
from edgekit.preprocess import load_rgb
from edgekit.progress import OnProgress, Reporter, reporter

PREPROCESS_TOOL = REPO_ROOT / "android_demo" / "core" / "preprocess.sh"
POSTPROCESS_TOOL = REPO_ROOT / "android_demo" / "core" / "postprocess.sh"
DETECTION_REPORT_SCORE = 0.05  # the boxes that must all match; a score threshold of 0.001 keeps noise boxes too


@dataclass
class DetectionAgreement:
    """A detector's boxes on one image: edgekit's (on its tensor) against the app's (on the app's tensor)."""

    edgekit_boxes: int          # all, after NMS
    app_boxes: int
    matched: int                # edgekit's boxes the app matches (same class, IoU >= 0.5)
    confident: int              # edgekit's boxes scored >= DETECTION_REPORT_SCORE
    confident_matched: int
    mean_iou: float             # over the matched boxes (1.0 when none)
    max_score_diff: float

    @property
    def agrees(self) -> bool:
        return self.confident_matched == self.confident

    def summary(self) -> str:
        return (f"{self.matched}/{self.edgekit_boxes} boxes matched ({self.confident_matched}/{self.confident} "
                f"scored >= {DETECTION_REPORT_SCORE:g}), mean IoU {self.mean_iou:.4f}, max |score diff| "
                f"{self.max_score_diff:.2g}")


@dataclass
class ImageAgreement:
    image: str
    artifact: str
    max_abs_diff: float     # normalised units (float input) or quantization steps (int8/uint8 input)
    unit: str               # "normalised" or "steps"
    tolerance: float
    edgekit_top1: str           # a detector: its number of boxes
    app_top1: str               # a detector: the match summary
    detection: DetectionAgreement | None = None

    @property
    def agrees(self) -> bool:
        if self.detection is not None:
            return self.max_abs_diff <= self.tolerance and self.detection.agrees
        return self.max_abs_diff <= self.tolerance and self.edgekit_top1 == self.app_top1


def _run_tool(tool: Path, what: str, args: list[str]) -> None:
    try:
        done = subprocess.run(["bash", str(tool), *args], capture_output=True, text=True)
    except OSError as error:
        raise EdgekitError(f"cannot run {tool}: {error}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        message = next((line for line in lines if line.startswith("error:")), lines[-1] if lines else "no message")
        raise EdgekitError(f"the app's {what} tool failed: {message.removeprefix('error: ')}")


def run_preprocess_tool(manifest: Path, images: list[Path], out: Path) -> dict[str, Path]:
    """Runs the app's preprocessing on the JVM; returns {image path: tensor .bin}. Raises EdgekitError with the
    tool's own message (missing java/kotlinc says how to install them)."""
    _run_tool(PREPROCESS_TOOL, "preprocess", ["--manifest", str(manifest), "--out", str(out), *map(str, images)])
    return {str(image): out / f"{image.stem}.bin" for image in images}


def run_postprocess_tool(manifest: Path, outputs: dict[str, tuple[Path, int, int]], out: Path) -> dict[str, dict]:
    """Runs the app's detection postprocessing on the JVM on {key: (raw output .bin, image width, height)};
    returns {key: the app's detections (count, labels, scores, image_boxes)}."""
    _run_tool(POSTPROCESS_TOOL, "postprocess", ["--manifest", str(manifest), "--out", str(out),
                                                *(f"{path}@{w}x{h}" for path, w, h in outputs.values())])
    return {key: json.loads((out / f"{path.stem}.json").read_text()) for key, (path, _, _) in outputs.items()}


def _detection_agreement(artifact: Artifact, reference_raw: np.ndarray, app: dict, width: int,
                         height: int) -> DetectionAgreement:
    """edgekit's detections (its postprocessing of the output for edgekit's tensor) against the app's."""
    from edgekit.detection_metrics import resize_geometry, to_image_boxes
    from edgekit.detection_post import Detections, PostprocessSettings, match_detections, postprocess
    from edgekit.runtime import dequantize

    pre = artifact.manifest.preprocessing
    rows = dequantize(reference_raw, artifact.manifest.output).reshape(-1, 4 + len(artifact.manifest.labels))
    found = postprocess(rows, pre.img_size, PostprocessSettings.from_dict(artifact.manifest["detection"]["postprocess"]))
    ours = Detections(to_image_boxes(found.boxes, resize_geometry(width, height, pre.img_size, pre.resize)),
                      found.scores, found.labels)
    theirs = Detections(np.asarray(app["image_boxes"], dtype=np.float64).reshape(-1, 4),
                        np.asarray(app["scores"], dtype=np.float32), np.asarray(app["labels"], dtype=np.int64))
    every = match_detections(ours, theirs)
    confident = ours.scores >= DETECTION_REPORT_SCORE
    strong = match_detections(Detections(ours.boxes[confident], ours.scores[confident], ours.labels[confident]), theirs)
    return DetectionAgreement(len(ours.scores), len(theirs.scores), every["matched"], int(confident.sum()),
                              strong["matched"], every["iou_sum"] / every["matched"] if every["matched"] else 1.0,
                              every["max_score_diff"])


def _compare(artifact: Artifact, reference: np.ndarray, app: np.ndarray, jpeg: bool) -> tuple[float, str, float]:
    tolerance = JPEG_TOLERANCE if jpeg else PNG_TOLERANCE
    if reference.dtype.kind == "f":
        return float(np.abs(reference.astype(np.float64) - app.astype(np.float64)).max()), "normalised", tolerance
    steps = QUANTIZED_STEPS if not jpeg else math.ceil(tolerance / artifact.manifest["input"]["quantization"]["scale"]) + 1
    return float(np.abs(reference.astype(np.int32) - app.astype(np.int32)).max()), "steps", float(steps)


def check_images(export_dir: Path, images: list[Path],
                 on_progress: OnProgress | Reporter | None = None) -> list[ImageAgreement]:
    say = reporter(on_progress).stage
    artifacts = find_artifacts(export_dir)
    if not images:
        raise EdgekitError("no images given")
    images = [Path(p) for p in images]
    for image in images:
        if not image.is_file():
            raise EdgekitError(f"no such image file: {image}")
        load_rgb(image)  # an image edgekit cannot decode: one clear line before anything runs
    stems = [p.stem for p in images]
    if len(set(stems)) != len(stems):
        raise EdgekitError("two images share a file name without extension; the tool writes <name>.bin for each")
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgekit-android-check-") as tmp:
        for artifact in artifacts:
            say(f"{artifact.name}: the app's preprocessing on the JVM")
            tensors = run_preprocess_tool(artifact.folder / "manifest.json", images, Path(tmp) / artifact.name)
            dtype = np.dtype(artifact.manifest["input"]["dtype"]).newbyteorder("<")
            labels = artifact.manifest["labels"]
            say(f"{artifact.name}: edgekit's preprocessing and the host runtime")
            detector = artifact.manifest.get("task") == "detection"
            outputs, pending = {}, []
            for image in images:
                reference = artifact.edgekit_input(image)
                app = np.fromfile(tensors[str(image)], dtype=dtype)
                if app.size != reference.size:
                    raise EdgekitError(f"the tool wrote {app.size} values for {image.name}, edgekit has {reference.size}")
                app = app.reshape(reference.shape)
                diff, unit, tolerance = _compare(artifact, reference, app, image.suffix.lower() in (".jpg", ".jpeg"))
                if detector:  # the app's postprocessing runs on the JVM below, on the output for the app's tensor
                    raw = artifact.run_raw(app)
                    path = Path(tmp) / f"{artifact.name}-outputs" / f"{image.stem}.bin"
                    path.parent.mkdir(exist_ok=True)
                    path.write_bytes(raw.astype(raw.dtype.newbyteorder("<")).tobytes())
                    width, height = load_rgb(image).size
                    outputs[str(image)] = (path, width, height)
                    pending.append((image, artifact.run_raw(reference), diff, unit, tolerance))
                    continue
                ours = int(np.argmax(artifact.logits(artifact.run_raw(reference))))
                theirs = int(np.argmax(artifact.logits(artifact.run_raw(app))))
                rows.append(ImageAgreement(image.name, artifact.name, diff, unit, tolerance, labels[ours], labels[theirs]))
            if detector:
                say(f"{artifact.name}: the app's detection postprocessing on the JVM")
                apps = run_postprocess_tool(artifact.folder / "manifest.json", outputs, Path(tmp) / f"{artifact.name}-detections")
                for image, reference_raw, diff, unit, tolerance in pending:
                    _, width, height = outputs[str(image)]
                    match = _detection_agreement(artifact, reference_raw, apps[str(image)], width, height)
                    rows.append(ImageAgreement(image.name, artifact.name, diff, unit, tolerance,
                                               f"{match.edgekit_boxes} boxes", match.summary(), match))
    return rows
