"""The one interface every export backend (converter) implements.

A backend converts: `export(request, path)` writes the artifact and returns the facts its manifest records.
What a format is and what it can honour lives in `edgekit.formats.FORMATS`; running an artifact lives in
`edgekit.runtime` (export's verification loads each artifact there, like every later stage). Backends are
imported lazily (`FORMATS[name].converter()`), so `edgekit export --formats onnx` never loads coremltools.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from edgekit.export.options import ExportOptions
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
    output_name: str = OUTPUT_NAME  # a detector's: "detections" (edgekit.detection_post)


class Backend(Protocol):
    name: str

    def export(self, request: ExportRequest, path: Path) -> dict:
        """Write the artifact at `path`; return extra manifest fields (input/output tensors, notes...)."""


@dataclass
class Converted:
    """What running a format's converter gave: the backend's facts (None when it failed), the wall time, and the
    failure as one line for the table (a converter crash is a row, never a traceback)."""
    facts: dict | None
    seconds: float
    error: str = ""


def convert(format_name: str, request: ExportRequest, path: Path) -> Converted:
    """Run the converter of `format_name` (edgekit/export/<format>.py) to write `path`, timed."""
    from edgekit.formats import FORMATS

    started = time.perf_counter()
    try:
        facts = FORMATS[format_name].converter().export(request, path)
    except Exception as error:
        return Converted(None, time.perf_counter() - started, first_line(error))
    return Converted(facts, time.perf_counter() - started)


def declared_tensors(format_name: str, path: Path) -> dict:
    """The input and output tensors as the artifact's own runtime reads them (dtype, shape, layout, quantization)."""
    from edgekit.runtime import open_runtime

    runtime = open_runtime(format_name, path)
    try:
        return {"input": runtime.input.to_dict(), "output": runtime.output.to_dict()}
    finally:
        runtime.close()


def first_line(error: BaseException, limit: int = 240) -> str:
    """A converter's exception as one readable line for the table."""
    text = " ".join(ANSI_ESCAPE.sub("", str(error)).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:limit]
