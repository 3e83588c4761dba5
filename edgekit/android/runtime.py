"""Host runs of the artifacts the app runs, fed tensors exactly as the app would feed them.

`HostArtifact` takes an input already in the artifact's own dtype and layout (float32, or int8/uint8 quantized;
NCHW or NHWC as its manifest says) and returns the raw output, through the artifact's runtime module
(`edgekit.runtime`); `edgekit_input` makes that input from an image file with edgekit's own preprocessing and
quantization (the reference the app must reproduce), from the manifest alone (a synthetic manifest without a
model works too).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.artifacts import find_artifacts as find_all
from edgekit.errors import EdgekitError
from edgekit.formats import FORMATS
from edgekit.manifest import Manifest, validate
from edgekit.runtime import dequantize, open_runtime, to_input
from edgekit.stats import top_k  # noqa: F401  (the app's top-k rule, used by the fixtures)

HOST_PRECISIONS = ("fp32", "int8")  # the precisions the app's checks compare (fp16 artifacts take float32 too)


class HostArtifact:
    """An artifact folder's manifest (validated) and, on first use, its runtime."""

    def __init__(self, folder: Path, manifest: dict | Manifest):
        folder = Path(folder)
        if not isinstance(manifest, Manifest):
            validate(manifest, folder / "manifest.json")
            manifest = Manifest(folder, manifest)
        self.folder, self.manifest = folder, manifest
        self._runtime = None

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def input_shape(self) -> list[int]:
        return self.manifest.input_shape

    def edgekit_input(self, image: Path) -> np.ndarray:
        """edgekit's input tensor for this artifact: its preprocessing, layout and input quantization."""
        return np.ascontiguousarray(to_input(self.manifest.preprocessing.load_batch([image]), self.manifest.input))

    def run_raw(self, tensor: np.ndarray) -> np.ndarray:
        """The runtime's raw output (int8 stays int8) for one input in the artifact's dtype and layout."""
        if self._runtime is None:
            self._runtime = open_runtime(self.manifest.format, self.manifest.path)
        tensor = np.ascontiguousarray(tensor.reshape(self.input_shape), dtype=np.dtype(self.manifest.input.dtype))
        return np.array(self._runtime.run_raw(tensor), copy=True)

    def logits(self, raw: np.ndarray) -> np.ndarray:
        return dequantize(raw, self.manifest.output).reshape(-1)


def find_artifacts(export_dir: Path) -> list[HostArtifact]:
    """The artifacts of an export folder that the app runs and this host can run too, fp32 and int8, each
    checked against its manifest (sha256 included)."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise EdgekitError(f"no such export folder: {export_dir}")
    every = find_all(export_dir)
    found = [HostArtifact(a.folder, a.manifest) for a in every
             if FORMATS[a.format].runs_on_android and a.runs_here()[0] and a.precision in HOST_PRECISIONS]
    if not found and len(every) == 1 and every[0].folder == export_dir:  # one artifact folder was given
        only = every[0]
        why = (FORMATS[only.format].android if not FORMATS[only.format].runs_on_android
               else only.runs_here()[1] if not only.runs_here()[0]
               else f"the app's checks compare {' and '.join(HOST_PRECISIONS)} artifacts only")
        raise EdgekitError(f"{export_dir} is a {only.format} {only.precision} artifact, which this check cannot "
                           f"use: {why}. Give an ONNX or TFLite fp32/int8 artifact folder, or the export folder")
    if not found:
        raise EdgekitError(f"no fp32 or int8 artifact the app runs ({', '.join(f for f, r in FORMATS.items() if r.runs_on_android)}) "
                           f"under {export_dir}")
    return found
