"""Host runtimes for the artifacts the app runs, fed tensors exactly as the app would feed them.

`HostArtifact` takes an input already in the artifact's own dtype and layout (float32, or int8/uint8 quantized;
NCHW or NHWC as its manifest says) and returns the raw output; `edgekit_input` makes that input from an image
file with edgekit's own preprocessing and quantization (the reference the app must reproduce).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.artifacts import Artifact
from edgekit.errors import EdgekitError

APP_FORMATS = ("onnx", "tflite")  # the formats whose host runtime these checks use (ExecuTorch: see docs)


@dataclass
class HostArtifact(Artifact):
    """An artifact folder (name, preprocessing, input shape from `edgekit.artifacts.Artifact`) run raw."""

    _session: object = None

    def _details(self, which: str) -> dict:
        tensor = self.manifest[which]
        quant = tensor.get("quantization") or {}
        return {"dtype": np.dtype(tensor["dtype"]), "quantization": (quant.get("scale", 0.0), quant.get("zero_point", 0))}

    def edgekit_input(self, image: Path) -> np.ndarray:
        """edgekit's input tensor for this artifact: its preprocessing, layout and input quantization."""
        from edgekit.export.tflite import quantize

        x = self.preprocessing.load_batch([image])
        if self.manifest["input"].get("layout") == "NHWC":
            x = x.transpose(0, 2, 3, 1)
        return np.ascontiguousarray(quantize(x, self._details("input")))

    def run_raw(self, tensor: np.ndarray) -> np.ndarray:
        """The runtime's raw output (int8 stays int8) for one input in the artifact's dtype and layout."""
        tensor = np.ascontiguousarray(tensor.reshape(self.input_shape), dtype=np.dtype(self.manifest["input"]["dtype"]))
        fmt = self.manifest["format"]
        if self._session is None:
            path = self.folder / self.manifest["file"]
            if fmt == "onnx":
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 2
                self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            else:
                from edgekit.export.tflite import _interpreter

                self._session = _interpreter(path)
        if fmt == "onnx":
            session = self._session
            return session.run(None, {session.get_inputs()[0].name: tensor})[0]
        interpreter = self._session
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()

    def logits(self, raw: np.ndarray) -> np.ndarray:
        from edgekit.export.tflite import dequantize

        return dequantize(raw, self._details("output")).reshape(-1)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits.astype(np.float64) - logits.max())
    return z / z.sum()


def top_k(logits: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """Highest first, ties to the lower index (as the app's Postprocess.topK)."""
    probs = softmax(logits)
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))[:k]
    return [(int(i), float(probs[i])) for i in order]


def find_artifacts(export_dir: Path) -> list[HostArtifact]:
    """The ONNX and TFLite fp32/int8 artifact folders of an export folder (other formats are ignored)."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise EdgekitError(f"no such export folder: {export_dir}")
    manifests = sorted(export_dir.glob("*/manifest.json"))
    if not manifests:
        raise EdgekitError(f"no manifest.json under {export_dir}: give an `edgekit export` model folder "
                           "(OUT/<model>, holding <format>-<precision>/ folders)")
    found = []
    for path in manifests:
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise EdgekitError(f"cannot read {path}: {error}") from None
        if manifest.get("schema") != "edgekit-manifest/1":
            raise EdgekitError(f"{path} is not an edgekit manifest (schema {manifest.get('schema')!r})")
        if manifest.get("format") in APP_FORMATS and manifest.get("precision") in ("fp32", "int8") \
                and (path.parent / manifest["file"]).is_file():
            found.append(HostArtifact(path.parent, manifest))
    if not found:
        raise EdgekitError(f"no ONNX or TFLite fp32/int8 artifact under {export_dir} "
                           "(export with --formats onnx,tflite)")
    return found
