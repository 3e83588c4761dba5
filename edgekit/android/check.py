"""`edgekit android check`: the app's preprocessing (android_demo/core on the JVM) against edgekit's, on any images.

For each image and each ONNX/TFLite artifact of an export: the JVM tool `android_demo/core/preprocess.sh` writes the
app's input tensor; edgekit computes its own (`Preprocessing` + the artifact's input quantization); both go through
the host runtime (onnxruntime, LiteRT). Agreement = tensors within the documented tolerance (lossless images:
bit-equal float32 and every int8/uint8 value equal; JPEG: `fixtures.JPEG_TOLERANCE`) and the same top-1. The Kotlin
JUnit tests (android_demo/core/test.sh) compare tensors only; the top-1 through the artifact
is checked here, in Python, where the host runtimes are.
"""
from __future__ import annotations

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


@dataclass
class ImageAgreement:
    image: str
    artifact: str
    max_abs_diff: float     # normalised units (float input) or quantization steps (int8/uint8 input)
    unit: str               # "normalised" or "steps"
    tolerance: float
    edgekit_top1: str
    app_top1: str

    @property
    def agrees(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.edgekit_top1 == self.app_top1


def run_preprocess_tool(manifest: Path, images: list[Path], out: Path) -> dict[str, Path]:
    """Runs the app's preprocessing on the JVM; returns {image path: tensor .bin}. Raises EdgekitError with the
    tool's own message (missing java/kotlinc says how to install them)."""
    try:
        done = subprocess.run(["bash", str(PREPROCESS_TOOL), "--manifest", str(manifest), "--out", str(out),
                               *map(str, images)], capture_output=True, text=True)
    except OSError as error:
        raise EdgekitError(f"cannot run {PREPROCESS_TOOL}: {error}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        message = next((line for line in lines if line.startswith("error:")), lines[-1] if lines else "no message")
        raise EdgekitError(f"the app's preprocess tool failed: {message.removeprefix('error: ')}")
    return {str(image): out / f"{image.stem}.bin" for image in images}


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
            for image in images:
                reference = artifact.edgekit_input(image)
                app = np.fromfile(tensors[str(image)], dtype=dtype)
                if app.size != reference.size:
                    raise EdgekitError(f"the tool wrote {app.size} values for {image.name}, edgekit has {reference.size}")
                app = app.reshape(reference.shape)
                diff, unit, tolerance = _compare(artifact, reference, app, image.suffix.lower() in (".jpg", ".jpeg"))
                ours = int(np.argmax(artifact.logits(artifact.run_raw(reference))))
                theirs = int(np.argmax(artifact.logits(artifact.run_raw(app))))
                rows.append(ImageAgreement(image.name, artifact.name, diff, unit, tolerance, labels[ours], labels[theirs]))
    return rows
