"""The one table of formats: everything edgekit knows about a format, in one row, with no torch import.

A `Format` row says what a format exports (precisions, and why not the others), what it can honour
(dynamic batch, integer I/O, calibration methods, layers kept in float), where its converter and its runtime
live, whether the Android app runs it (and why not), which on-device tool times it, and its colour in the
report. Every caller reads the row; no caller outside this table, the converter files (`edgekit/export/<fmt>.py`)
and the runtime files (`edgekit/runtime/<fmt>.py`) names a format.

Adding a format: one row here, one converter file (its integer check too), one runtime file (its on-device tool too).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Sequence

from edgekit.errors import EdgekitError

PRECISIONS = ("fp32", "fp16", "int8")
PT2E_METHODS = ("minmax", "moving_average", "histogram")  # the PT2E activation observers (edgekit.quantize.pt2e)
ONNX_METHODS = ("minmax", "moving_average", "histogram", "entropy", "percentile", "distribution")
BASELINE = "pytorch"  # the eager fp32 baseline's "format" in bench rows (not an artifact format)
BASELINE_COLOUR = "#444444"


@dataclass(frozen=True)
class Format:
    name: str
    artifact: str  # file (or directory) name inside the artifact folder
    precisions: tuple[str, ...]
    unsupported: dict[str, str] = field(default_factory=dict)  # precision -> why this format has no such export
    dynamic_batch: bool = False  # the batch dimension can be left free
    int8_io: bool = False  # int8 artifacts can take and give integer tensors
    calib_methods: tuple[str, ...] = ()  # selectable int8 calibration methods, the first is the default
    keep_float: bool = False  # int8 can leave named layers in float
    android: str | None = None  # None: the Android app runs it; else why it cannot (android sync refuses it)
    device_tool: str | None = None  # the runtime's own benchmark binary on a phone (edgekit bench --device adb)
    colour: str = "#777777"  # the report's colour for this format

    @property
    def converter_module(self) -> str:
        return f"edgekit.export.{self.name}"

    @property
    def runtime_module(self) -> str:
        return f"edgekit.runtime.{self.name}"

    def converter(self):
        """The export backend (edgekit/export/<name>.py): imports torch and the converter."""
        return importlib.import_module(self.converter_module).BACKEND

    def runtime(self):
        """The runtime module (edgekit/runtime/<name>.py): `runs_here()`, `load(path, ...)`; torch-free to import."""
        return importlib.import_module(self.runtime_module)

    def integer_check(self):
        """The converter file's integer check, `<name>_integer` (edgekit.export.integer's rule: the ops computing in
        float in an int8 artifact; ONNX and TFLite read the file, ExecuTorch its lowered graph), or None."""
        return getattr(importlib.import_module(self.converter_module), f"{self.name}_integer", None)

    def tool(self):
        """The on-device benchmark tool (`device_tool`): its command line and output parser, from the runtime file
        (edgekit.runtime.device_tool.DeviceTool; torch-free), or None when the format has none."""
        return self.runtime().DEVICE_TOOL if self.device_tool else None

    def runs_here(self) -> tuple[bool, str]:
        """(True, "") when this host can run the artifact in its own runtime, else (False, why not)."""
        return self.runtime().runs_here()

    @property
    def runs_on_android(self) -> bool:
        return self.android is None

    def why_not(self, precision: str) -> str | None:
        """None when the format exports this precision, else the reason in one line."""
        if precision in self.precisions:
            return None
        return self.unsupported.get(precision, f"{self.name} has no {precision} export")

    def cannot_honour(self, options) -> list[str]:
        """The export options this format would ignore, each as a short sentence ([] when none)."""
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
    Format("torchscript", "model.pt", precisions=("fp32",), unsupported={
        "fp16": "PyTorch Mobile has no fp16 CPU path (a .half() TorchScript only runs on GPUs); use executorch or tflite",
        "int8": "no maintained int8 path: PyTorch Mobile is deprecated in favour of ExecuTorch; use executorch",
    }, android="TorchScript needs PyTorch Mobile, deprecated in favour of ExecuTorch: bundle the executorch (.pte) "
               "artifact instead", colour="#8c564b"),
    Format("onnx", "model.onnx", precisions=("fp32", "fp16", "int8"), dynamic_batch=True,
           calib_methods=ONNX_METHODS, keep_float=True, device_tool="onnxruntime_perf_test", colour="#1f77b4"),
    Format("tflite", "model.tflite", precisions=("fp32", "fp16", "int8"), int8_io=True,
           calib_methods=PT2E_METHODS, keep_float=True, device_tool="benchmark_model", colour="#ff7f0e"),
    Format("executorch", "model.pte", precisions=("fp32", "fp16", "int8"),
           calib_methods=PT2E_METHODS, keep_float=True, device_tool="executor_runner", colour="#2ca02c"),
    Format("coreml", "model.mlpackage", precisions=("fp32", "fp16", "int8"),
           android="Core ML runs only on Apple platforms (iOS, macOS): the Android app has no runtime for .mlpackage",
           colour="#9467bd"),
)}


def get_format(name: str) -> Format:
    """The row of `name`; an EdgekitError naming the known formats otherwise."""
    if name not in FORMATS:
        raise EdgekitError(f"unknown format '{name}'; choose from {', '.join(FORMATS)}")
    return FORMATS[name]


def android_formats() -> tuple[str, ...]:
    """The formats the Android app runs."""
    return tuple(name for name, row in FORMATS.items() if row.runs_on_android)


def colour(name: str) -> str:
    """The report's colour for a format name or the eager baseline."""
    return BASELINE_COLOUR if name == BASELINE else FORMATS[name].colour if name in FORMATS else "#777777"


def parse_precisions(precision: str | Sequence[str]) -> list[str]:
    """Validated precisions in the table's order; an EdgekitError for an unknown one or none."""
    names = [precision] if isinstance(precision, str) else list(precision)
    unknown = [p for p in names if p not in PRECISIONS]
    if unknown or not names:
        raise EdgekitError(f"unknown precision '{unknown[0] if unknown else ''}'; choose from {', '.join(PRECISIONS)}")
    return [p for p in PRECISIONS if p in names]


def parse_formats(names: str | Sequence[str] | None, precisions: Sequence[str], options=None) -> list[str]:
    """Validate the requested formats against the table; None means every format.

    An explicitly named format that cannot export a precision, or cannot honour an option, is an
    EdgekitError; with every format (None), such options become notes in that format's rows.
    """
    if names is None:
        return list(FORMATS)
    if isinstance(names, str):
        names = names.split(",")
    requested = [str(n).strip().lower() for n in names if str(n).strip()]
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
