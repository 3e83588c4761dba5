"""Running an artifact in its own runtime: one module per format (`edgekit/runtime/<format>.py`).

Every consumer of an artifact uses this room: export's verification, eval/predict, `bench --data`, the bench
worker's timed sessions, and the Android tools (which feed tensors exactly as the app does). Importing it loads
no torch; loading an artifact imports only what its runtime needs.

    open_runtime(format, path, threads=None) -> Runtime
        runtime.input / runtime.output      TensorSpec read off the artifact itself (dtype, shape, layout,
                                            quantization scale and zero point)
        runtime(images)                     a Predictor: normalised float32 NCHW batch in, float32 logits out
        runtime.to_input(image)             one (1, 3, H, W) float32 image -> the artifact's own dtype and layout
        runtime.run_raw(tensor)             one inference on a tensor already in that dtype/layout: raw output
        runtime.prepare(tensor), runtime.invoke(prepared)
                                            run_raw in two steps: the timed call is `invoke`, exactly what an
                                            app does per frame with a ready tensor
        runtime.to_logits(raw)              dequantized float32 logits, shape (1, classes)

`threads=None` leaves the runtime's own default; a number is enforced with the runtime's own setting
(`threads_setting` says which), as `edgekit bench` needs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError

FLOAT_DTYPES = ("float32", "float16")
INTEGER_DTYPES = ("int8", "uint8")


@dataclass(frozen=True)
class TensorSpec:
    """An input or output tensor as the artifact declares it."""

    name: str
    shape: tuple  # ints; None for a free dimension
    dtype: str  # numpy dtype name: float32, float16, int8, uint8
    layout: str | None = None  # NCHW or NHWC for a 4-d image tensor, else None
    scale: float | None = None  # integer tensors: real = scale * (q - zero_point)
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        return self.dtype in INTEGER_DTYPES

    def to_dict(self) -> dict:
        facts = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.layout:
            facts["layout"] = self.layout
        if self.quantized and self.scale:
            facts["quantization"] = {"scale": float(self.scale), "zero_point": int(self.zero_point or 0),
                                     "real_value": "scale * (q - zero_point)"}
        return facts


def image_layout(shape) -> str | None:
    """NCHW or NHWC for a 4-d tensor with 3 channels on one side, else None."""
    shape = list(shape)
    if len(shape) != 4:
        return None
    return "NCHW" if shape[1] == 3 else "NHWC" if shape[3] == 3 else None


def quantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float values -> the tensor's dtype: q = clamp(round_half_even(x / scale) + zero_point) for integer tensors."""
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        return np.ascontiguousarray(values, dtype=dtype)
    if not spec.scale:
        raise EdgekitError(f"tensor {spec.name} is {spec.dtype} without a quantization scale")
    info = np.iinfo(dtype)
    q = np.round(np.asarray(values, np.float32) / np.float32(spec.scale)) + (spec.zero_point or 0)
    return np.ascontiguousarray(np.clip(q, info.min, info.max).astype(dtype))


def dequantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """The tensor's values as float32 (scale * (q - zero_point) for integer tensors)."""
    values = np.asarray(values)
    if np.dtype(spec.dtype).kind == "f" or values.dtype.kind == "f":
        return values.astype(np.float32)
    return ((values.astype(np.float32) - (spec.zero_point or 0)) * np.float32(spec.scale)).astype(np.float32)


def to_input(images: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Normalised float32 NCHW images -> the layout and dtype `spec` declares (quantized with its scale)."""
    images = np.asarray(images, dtype=np.float32)
    if spec.layout == "NHWC":
        images = images.transpose(0, 2, 3, 1)
    return quantize(images, spec)


def package_version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


class Runtime:
    """An artifact loaded in its own runtime. Subclasses set the facts and implement `prepare` and `invoke`."""

    format: str = ""
    runtime: str = ""  # the runtime package, e.g. onnxruntime
    runtime_version: str | None = None
    delegate: str | None = None
    threads_setting: str = ""
    load_ms: float = 0.0
    batch_free: bool = False  # the artifact takes any batch size (else one image per call)

    def __init__(self, path: Path, input_spec: TensorSpec, output_spec: TensorSpec):
        self.path = Path(path)
        self.name = f"{self.runtime}:{self.path.name}"
        self.input, self.output = input_spec, output_spec

    # ------------------------------------------------------------------ the per-frame call, in two steps
    def prepare(self, tensor: np.ndarray):
        """A tensor in the artifact's own dtype and layout -> what `invoke` takes (done once per frame)."""
        return tensor

    def invoke(self, prepared) -> np.ndarray:
        """One inference: set the input, run, read the output (raw: integer outputs stay integer)."""
        raise NotImplementedError

    def run_raw(self, tensor: np.ndarray) -> np.ndarray:
        return self.invoke(self.prepare(np.ascontiguousarray(tensor, dtype=np.dtype(self.input.dtype))))

    # ------------------------------------------------------------------ float images in, logits out
    def to_input(self, images: np.ndarray) -> np.ndarray:
        """Normalised float32 NCHW images -> the artifact's layout and dtype (quantized with its scale)."""
        return to_input(images, self.input)

    def to_logits(self, raw: np.ndarray) -> np.ndarray:
        logits = dequantize(raw, self.output)
        return logits.reshape(logits.shape[0] if logits.ndim > 1 else 1, -1)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """A Predictor: (N, 3, H, W) normalised float32 -> (N, classes) float32 logits."""
        images = np.asarray(images, dtype=np.float32)
        if self.batch_free:
            return self.to_logits(self.run_raw(self.to_input(images)))
        return np.concatenate([self.to_logits(self.run_raw(self.to_input(images[i:i + 1])))
                               for i in range(len(images))]) if len(images) else np.zeros((0, 0), np.float32)

    def close(self) -> None:
        """Release the runtime's resources (a no-op where garbage collection does it)."""


class Timer:
    """load_ms: the wall time of building the session (after the runtime's imports)."""

    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.ms = (time.perf_counter() - self.started) * 1000.0
        return False


def runs_here(format_name: str) -> tuple[bool, str]:
    from edgekit.formats import get_format

    return get_format(format_name).runs_here()


def open_runtime(format_name: str, path: Path | str, threads: int | None = None) -> Runtime:
    """The artifact at `path` loaded in the runtime of `format_name`; EdgekitError when it cannot run here or
    the file is not what its format says."""
    from edgekit.formats import get_format

    row = get_format(format_name)
    runs, why_not = row.runs_here()
    if not runs:
        raise EdgekitError(f"{format_name} cannot run here: {why_not}")
    if threads is not None and threads < 1:
        raise EdgekitError(f"threads must be at least 1, got {threads}")
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"{path} does not exist")
    try:
        return row.runtime().load(path, threads=threads)
    except EdgekitError:
        raise
    except Exception as error:  # a file that is not what its format says, a runtime that refuses it
        text = " ".join(str(error).split())[:240] or type(error).__name__
        raise EdgekitError(f"{path} does not load as a {format_name} artifact: {type(error).__name__}: {text}") from None
