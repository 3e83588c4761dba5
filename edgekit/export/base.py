"""The one interface every export backend implements, and the one table of formats.

`FORMATS` is declarative: name, artifact file name, which precisions a format exports (and why
not the others), and what it can honour: a dynamic batch, integer int8 I/O, which calibration
methods, layers kept in float. It drives the CLI's validation, the export
loop and the benchmark loop; adding a format is one row here and one backend file beside it.
Backends are imported lazily, so `edgekit export --formats onnx` never loads coremltools.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.export.options import PRECISIONS, ExportOptions
from edgekit.predictor import Predictor
from edgekit.preprocess import Preprocessing

INPUT_NAME = "input"  # the name every artifact's image input gets where the format lets us choose
OUTPUT_NAME = "logits"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")  # converters colour their messages; a table cell wants text


@dataclass
class ExportRequest:
    """Everything a backend needs; backends must not modify `model` (it is shared)."""

    model: nn.Module  # eval mode, fp32, CPU
    model_name: str
    example_input: torch.Tensor  # (1, 3, H, W) float32
    precision: str  # "fp32" | "fp16" | "int8"
    preprocessing: Preprocessing
    labels: list[str]
    calibration: np.ndarray | None = None  # (N, 3, H, W) float32, normalised; int8 only
    options: ExportOptions = field(default_factory=lambda: ExportOptions(model=""))  # calib_method resolved per format


class Backend(Protocol):
    name: str

    def runs_here(self) -> tuple[bool, str]:
        """(True, "") when this host can run the artifact, else (False, why not)."""

    def export(self, request: ExportRequest, path: Path) -> dict:
        """Write the artifact at `path`; return extra manifest fields (input/output tensors, notes...)."""

    def load_predictor(self, path: Path, manifest: dict) -> Predictor:
        """The artifact loaded in its own runtime, as a Predictor (normalised float32 NCHW -> logits)."""

    def inspect(self, path: Path) -> dict:
        """What the artifact itself declares (input/output names, shapes, dtypes): a structural check."""


PT2E_METHODS = ("minmax", "moving_average", "histogram")  # edgekit.quantize.pt2e.PT2E_METHODS
ONNX_METHODS = ("minmax", "moving_average", "histogram", "entropy", "percentile", "distribution")


@dataclass(frozen=True)
class Format:
    name: str
    artifact: str  # file (or directory) name inside the artifact folder
    module: str  # the backend module under edgekit.export
    precisions: tuple[str, ...]
    unsupported: dict[str, str] = field(default_factory=dict)  # precision -> why this format has no such export
    dynamic_batch: bool = False  # the batch dimension can be left free
    int8_io: bool = False  # int8 artifacts can take and give integer tensors
    calib_methods: tuple[str, ...] = ()  # selectable int8 calibration methods, the first is the default
    keep_float: bool = False  # int8 can leave named layers in float

    def backend(self) -> Backend:
        return importlib.import_module(f"edgekit.export.{self.module}").BACKEND

    def why_not(self, precision: str) -> str | None:
        """None when the format exports this precision, else the reason in one line."""
        if precision in self.precisions:
            return None
        return self.unsupported.get(precision, f"{self.name} has no {precision} export")

    def cannot_honour(self, options: ExportOptions) -> list[str]:
        """The options this format would ignore, each as a short sentence ("" list when none)."""
        problems = []
        if options.dynamic_batch and not self.dynamic_batch:
            problems.append(f"{self.name} has no dynamic batch (--dynamic-batch): batch 1")
        if "int8" in options.precisions and "int8" in self.precisions:
            if options.int8_io and not self.int8_io:
                problems.append(f"{self.name} int8 keeps float input/output (--int8-io)")
            if options.calib_method is not None and options.calib_method not in self.calib_methods:
                choices = (f"choose from {', '.join(self.calib_methods)}" if self.calib_methods
                           else "its calibration method is not selectable")
                problems.append(f"{self.name} has no calibration method '{options.calib_method}' ({choices})")
            if options.keep_float and not self.keep_float:
                problems.append(f"{self.name} int8 cannot keep layers in float (--keep-float)")
        return problems

    def default_calib_method(self) -> str | None:
        return self.calib_methods[0] if self.calib_methods else None


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("torchscript", "model.pt", "torchscript", precisions=("fp32",), unsupported={
        "fp16": "PyTorch Mobile has no fp16 CPU path (a .half() TorchScript only runs on GPUs); use executorch or tflite",
        "int8": "no maintained int8 path: PyTorch Mobile is deprecated in favour of ExecuTorch; use executorch",
    }),
    Format("onnx", "model.onnx", "onnx", precisions=("fp32", "fp16", "int8"), dynamic_batch=True,
           calib_methods=ONNX_METHODS, keep_float=True),
    Format("tflite", "model.tflite", "tflite", precisions=("fp32", "fp16", "int8"), int8_io=True,
           calib_methods=PT2E_METHODS, keep_float=True),
    Format("executorch", "model.pte", "executorch", precisions=("fp32", "fp16", "int8"),
           calib_methods=PT2E_METHODS, keep_float=True),
    Format("coreml", "model.mlpackage", "coreml", precisions=("fp32", "fp16", "int8")),
)}


def parse_formats(names: str | Sequence[str] | None, precisions: Sequence[str],
                  options: ExportOptions | None = None) -> list[str]:
    """Validate the requested formats against the table; None means every format.

    An explicitly named format that cannot export a precision, or cannot honour an option, is an
    EdgekitError; with every format (None), such options become notes in that format's rows.
    """
    if names is None:
        return list(FORMATS)
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    requested = [n.strip().lower() for n in names if n.strip()]
    if not requested:
        raise EdgekitError(f"no format given; choose from {', '.join(FORMATS)}")
    unknown = [n for n in requested if n not in FORMATS]
    if unknown:
        raise EdgekitError(f"unknown format '{unknown[0]}'; choose from {', '.join(FORMATS)}")
    for name in requested:
        for precision in precisions:
            reason = FORMATS[name].why_not(precision)
            if reason:
                raise EdgekitError(f"{name} cannot export {precision}: {reason}")
        problems = FORMATS[name].cannot_honour(options) if options is not None else []
        if problems:
            raise EdgekitError(f"{problems[0]}; leave the option out or choose another format")
    return list(dict.fromkeys(requested))


def one_at_a_time(run_one, images: np.ndarray) -> np.ndarray:
    """Run an artifact with a static batch of 1 over a batch of images."""
    return np.concatenate([np.asarray(run_one(images[i:i + 1]), dtype=np.float32).reshape(1, -1)
                           for i in range(len(images))])


def first_line(error: BaseException, limit: int = 240) -> str:
    """A converter's exception as one readable line for the table."""
    text = " ".join(ANSI_ESCAPE.sub("", str(error)).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:limit]
