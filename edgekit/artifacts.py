"""Open exported artifacts: an artifact folder (manifest.json + model file + labels.txt) or an export folder
holding several, each checked against its manifest (edgekit.manifest: types, paths, sha256, labels) before
anything uses it.

    find_artifacts(path) -> list[Artifact]     PATH is one artifact folder or an export folder
    open_artifact(folder) -> Artifact          one folder; the checksum is verified
    Artifact.predictor(threads=None)           the artifact in its own runtime (edgekit.runtime)
    Artifact.from_manifest(folder, data)       a manifest given as data (validated), e.g. the app's synthetic cases
    Artifact.edgekit_input(image) / run_raw(tensor) / logits(raw)
                                               the app's view: an input in the artifact's own dtype and layout
                                               (quantized, NCHW or NHWC as the manifest says), the raw output
    check_loadable(artifacts)                  each loads here, with the tensors its manifest declares

Used by `edgekit bench`, `edgekit eval`, `edgekit predict`, the report and the Android tools. Bad input (no
manifest, unreadable or ill-typed manifest, a path leaving the folder, missing file, checksum mismatch) is an
EdgekitError in one line. Imports no torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.formats import FORMATS
from edgekit.manifest import MANIFEST_NAME, Manifest, is_artifact_folder, open_manifest, validate
from edgekit.preprocess import Preprocessing


@dataclass
class Artifact:
    folder: Path
    manifest: Manifest
    _runtime: object = field(default=None, init=False, repr=False, compare=False)  # run_raw's, opened once

    @classmethod
    def from_manifest(cls, folder: Path | str, manifest: dict | Manifest) -> "Artifact":
        """An artifact from its folder and a manifest given as data (validated as a manifest.json is)."""
        folder = Path(folder)
        if not isinstance(manifest, Manifest):
            validate(manifest, folder / MANIFEST_NAME)
            manifest = Manifest(folder, manifest)
        return cls(folder, manifest)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def model(self) -> str:
        return self.manifest.model

    @property
    def format(self) -> str:
        return self.manifest.format

    @property
    def precision(self) -> str:
        return self.manifest.precision

    @property
    def path(self) -> Path:
        return self.manifest.path

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.manifest.preprocessing

    @property
    def input_shape(self) -> list[int]:
        return self.manifest.input_shape

    @property
    def size_bytes(self) -> int:
        return self.manifest.size_bytes

    def runs_here(self) -> tuple[bool, str]:
        return FORMATS[self.format].runs_here()

    def runtime(self, threads: int | None = None):
        """The artifact loaded in its own runtime (edgekit.runtime.Runtime); its declared input and output must
        be what the manifest says."""
        from edgekit.runtime import open_runtime

        runs, why_not = self.runs_here()
        if not runs:
            raise EdgekitError(f"{self.folder}: {self.format} cannot run here: {why_not}")
        runtime = open_runtime(self.format, self.path, threads=threads)
        _check_declared(self, runtime)
        return runtime

    def predictor(self, threads: int | None = None):
        """A Predictor: normalised float32 NCHW in, float32 logits out, in the artifact's own runtime."""
        return self.runtime(threads)

    def edgekit_input(self, image: Path) -> np.ndarray:
        """edgekit's input tensor for this artifact, as the app must make it: its preprocessing, layout and input
        quantization, from the manifest alone (no model file needed)."""
        from edgekit.runtime import to_input

        return np.ascontiguousarray(to_input(self.manifest.preprocessing.load_batch([image]), self.manifest.input))

    def run_raw(self, tensor: np.ndarray) -> np.ndarray:
        """The runtime's raw output (int8 stays int8) for one input in the artifact's dtype and layout."""
        if self._runtime is None:
            self._runtime = self.runtime()
        tensor = np.ascontiguousarray(tensor.reshape(self.input_shape), dtype=np.dtype(self.manifest.input.dtype))
        return np.array(self._runtime.run_raw(tensor), copy=True)

    def logits(self, raw: np.ndarray) -> np.ndarray:
        from edgekit.runtime import dequantize

        return dequantize(raw, self.manifest.output).reshape(-1)

    @property
    def parity_top1(self) -> tuple[float | None, str]:
        """(artifact_top1 %, on which images) recorded by the export's parity check; None when unlabelled. A
        detector's: its mAP points on the parity images."""
        parity = self.manifest.parity
        top1 = parity.get("artifact_map" if parity.get("metric") == "map" else "artifact_top1")
        return (float(top1) if isinstance(top1, (int, float)) else None), str(parity.get("images", ""))


def _check_declared(artifact: Artifact, runtime) -> None:
    """The runtime's own view of the file against the manifest: a manifest that lies about its tensors (dtype,
    quantization, input size, class count) would feed the model garbage."""
    declared, actual = artifact.manifest.input, runtime.input
    where = f"{artifact.folder / MANIFEST_NAME}"
    if actual.dtype != declared.dtype:
        raise EdgekitError(f"{where}: the manifest says a {declared.dtype} input, the model file takes {actual.dtype}")
    known = [(d, a) for d, a in zip(declared.shape, actual.shape) if d is not None and a is not None]
    if len(declared.shape) != len(actual.shape) or any(d != a for d, a in known):
        raise EdgekitError(f"{where}: the manifest's input shape {list(declared.shape)} is not the model file's "
                           f"{list(actual.shape)}")
    if actual.quantized and (actual.scale, actual.zero_point) != (declared.scale, declared.zero_point):
        if declared.scale is None or abs(actual.scale - declared.scale) > 1e-6 * actual.scale \
                or actual.zero_point != declared.zero_point:
            raise EdgekitError(f"{where}: the manifest's input quantization ({declared.scale}, {declared.zero_point}) "
                               f"is not the model file's ({actual.scale}, {actual.zero_point})")
    classes = runtime.output.shape[-1] if runtime.output.shape else None
    if artifact.manifest.raw.get("task") == "detection":  # 4 box columns, then one score per label
        classes = None if classes is None else classes - 4
    if classes is not None and classes != len(artifact.labels):
        raise EdgekitError(f"{where}: the model file gives {classes} scores, the manifest has "
                           f"{len(artifact.labels)} labels")


def open_artifact(folder: Path | str, verify: bool = True) -> Artifact:
    """Read the manifest and the files it names; verify=True also checks the model file's sha256."""
    folder = Path(folder)
    manifest = open_manifest(folder, verify=verify)
    return Artifact(folder, manifest)


def artifact_folders(path: Path | str) -> list[Path]:
    """The artifact folders directly inside an export folder (hidden temporary folders skipped), sorted."""
    path = Path(path)
    try:
        return sorted(p for p in path.iterdir()
                      if not p.name.startswith(".") and p.is_dir() and is_artifact_folder(p))
    except OSError as error:
        raise EdgekitError(f"{path} cannot be listed: {error.strerror or error}") from None


def find_artifacts(path: Path | str, verify: bool = True) -> list[Artifact]:
    """PATH itself when it is an artifact folder, else every artifact folder directly inside it (sorted)."""
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path} does not exist")
    if not path.is_dir():
        raise EdgekitError(f"{path} is not a directory: give an artifact folder or an export folder")
    if is_artifact_folder(path):
        return [open_artifact(path, verify)]
    folders = artifact_folders(path)
    if not folders:
        raise EdgekitError(f"{path} holds no {MANIFEST_NAME}: give an artifact folder or an export folder "
                           f"(OUT/<model>/ from `edgekit export`)")
    return [open_artifact(folder, verify) for folder in folders]


def check_loadable(artifacts: list[Artifact]) -> None:
    """Load each artifact that runs here in its runtime, one at a time, and check its declared tensors (a file
    that is not what its format says, a manifest forged over another file): one EdgekitError for the first that
    fails, before any timing or copying. Formats that cannot run here are left to the caller (a 'not run' row)."""
    for artifact in artifacts:
        if artifact.runs_here()[0]:
            runtime = artifact.runtime()
            del runtime


def export_folder_of(path: Path | str) -> Path:
    """Where bench.json goes: the export folder (PATH, or its parent when PATH is one artifact folder)."""
    path = Path(path)
    return path.parent if is_artifact_folder(path) else path
