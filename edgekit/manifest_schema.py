"""The manifest's fields, one by one: what each must be (type, range, a name inside the folder), checked on the
parsed document before anything uses it. Torch-free, like edgekit.manifest, which reads and writes the file and
calls `validate` on every manifest it reads or writes.

    validate(raw, where)                       every field the readers (edgekit and the app) rely on; one
                                               EdgekitError naming the file, the field and the value
    parity_problem(parity) / weights_problem   the `parity` and `weights` records (also summary.json's) -> what is
                                               wrong, or None
    tensor_spec(facts, where) -> TensorSpec    an `input`/`output` entry: shape, dtype, layout, quantization
    plain_name(name)                           one file name inside the artifact folder (no separator, not hidden)

docs/manifest.md documents each field.
"""
from __future__ import annotations

import json
import math
import numbers
import re
from pathlib import Path

from edgekit import contracts
from edgekit.errors import EdgekitError
from edgekit.formats import FORMATS, PRECISIONS
from edgekit.preprocess import Preprocessing
from edgekit.runtime import FLOAT_DTYPES, INTEGER_DTYPES, TensorSpec

MANIFEST_SCHEMA = contracts.MANIFEST
TENSOR_DTYPES = FLOAT_DTYPES + INTEGER_DTYPES
LAYOUTS = ("NCHW", "NHWC")
STATUSES = ("verified", "failed verification", "exported, not judged", "exported, not run here")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+:=@-]{0,127}$")  # a name that is safe as one path component
MAX_LABEL_LENGTH = 512


def validate(raw, where: Path | str) -> None:
    """Every field the readers (edgekit and the app) rely on, with its type; one EdgekitError naming the first
    problem. Optional fields are checked when present."""
    where = str(where)
    if not isinstance(raw, dict):
        raise EdgekitError(f"{where}: not a manifest (a JSON object was expected)")
    if raw.get("schema") != MANIFEST_SCHEMA:
        raise EdgekitError(f"{where}: schema {raw.get('schema')!r} is not {MANIFEST_SCHEMA!r} (not an edgekit manifest, "
                           "or one from a newer edgekit)")
    missing = [k for k in ("model", "format", "precision", "file", "sha256", "input", "output", "preprocessing", "labels")
               if k not in raw]
    if missing:
        raise EdgekitError(f"{where} lacks {', '.join(missing)}")

    def fail(field: str, what: str):
        raise EdgekitError(f"{where}: '{field}' {what}, got {_shown(raw.get(field))}")

    if not isinstance(raw["model"], str) or not SAFE_NAME.match(raw["model"]):
        fail("model", "must be a name of letters, digits and _.+:=@- (it names folders)")
    if raw["format"] not in FORMATS:
        fail("format", f"must be one of {', '.join(FORMATS)}")
    if raw["precision"] not in PRECISIONS:
        fail("precision", f"must be one of {', '.join(PRECISIONS)}")
    if not isinstance(raw["file"], str) or not plain_name(raw["file"]):
        fail("file", "must be a file name inside the artifact folder")
    if raw.get("labels_file") is not None and (not isinstance(raw["labels_file"], str) or not plain_name(raw["labels_file"])):
        fail("labels_file", "must be a file name inside the artifact folder")
    if not isinstance(raw["sha256"], str) or not SHA256.match(raw["sha256"]):
        fail("sha256", "must be 64 lowercase hex digits")
    if "size_bytes" in raw and not _int(raw["size_bytes"], 0):
        fail("size_bytes", "must be a non-negative integer")
    labels = raw["labels"]
    if not isinstance(labels, list) or not labels or not all(_label_ok(label) for label in labels):
        fail("labels", f"must be a non-empty list of one-line names (at most {MAX_LABEL_LENGTH} characters)")
    if "num_classes" in raw and not (_int(raw["num_classes"], 1) and raw["num_classes"] == len(labels)):
        fail("num_classes", f"must equal the number of labels ({len(labels)})")
    for key in ("status",):
        if key in raw and raw[key] is not None and raw[key] not in STATUSES:
            fail(key, f"must be one of {', '.join(STATUSES)}")
    for key in ("parity", "backend", "calibration", "versions", "source", "int8_plan"):
        if key in raw and raw[key] is not None and not isinstance(raw[key], dict):
            fail(key, "must be an object")
    problem = parity_problem(raw.get("parity"))
    if problem:
        raise EdgekitError(f"{where}: 'parity' {problem}")
    problem = weights_problem(raw.get("weights"))
    if problem:
        raise EdgekitError(f"{where}: 'weights' {problem}")
    pre = Preprocessing.from_dict(raw["preprocessing"], where=f"{where}: preprocessing")
    input_spec = tensor_spec(raw["input"], f"{where}: input")
    output_spec = tensor_spec(raw["output"], f"{where}: output")
    if len(input_spec.shape) != 4 or input_spec.layout not in LAYOUTS:
        raise EdgekitError(f"{where}: input must be a 4-d image tensor with layout NCHW or NHWC, "
                           f"got shape {list(input_spec.shape)} layout {input_spec.layout!r}")
    channel, height, width = ((1, 2, 3) if input_spec.layout == "NCHW" else (3, 1, 2))
    shape = input_spec.shape
    if shape[channel] not in (None, 3) or any(shape[i] not in (None, pre.img_size) for i in (height, width)):
        raise EdgekitError(f"{where}: input shape {list(shape)} ({input_spec.layout}) does not take the "
                           f"preprocessing's 3 x {pre.img_size} x {pre.img_size} image")
    if shape[0] not in (None, 1):
        raise EdgekitError(f"{where}: input batch {shape[0]} is not 1 (or free)")
    task = raw.get("task", "classification")
    if task not in TASKS:
        fail("task", f"must be one of {', '.join(TASKS)}")
    if task == "detection":
        _check_detection(raw, output_spec, len(labels), where)
    elif not output_spec.shape or output_spec.shape[-1] not in (None, len(labels)):
        raise EdgekitError(f"{where}: output shape {list(output_spec.shape)} does not give one score per label "
                           f"({len(labels)} labels)")


TASKS = ("classification", "detection")


def _check_detection(raw: dict, output_spec, num_labels: int, where: str) -> None:
    """A detector's manifest: `detection` says the output's layout and NMS settings (edgekit.detection_post);
    the output is 1 x A x (4 + labels)."""
    from edgekit.detection_post import BOX_COLUMNS, PostprocessSettings

    detection = raw.get("detection")
    if not isinstance(detection, dict):
        raise EdgekitError(f"{where}: a detector's manifest needs a 'detection' object (layout and NMS settings)")
    if not isinstance(detection.get("postprocess"), dict):
        raise EdgekitError(f"{where}: detection.postprocess must be an object")
    try:
        PostprocessSettings.from_dict(detection["postprocess"])
    except EdgekitError as error:
        raise EdgekitError(f"{where}: {error}") from None
    anchors = detection.get("num_anchors")
    if not _int(anchors, 1):
        raise EdgekitError(f"{where}: detection.num_anchors must be a positive integer, got {_shown(anchors)}")
    shape = list(output_spec.shape)
    if len(shape) != 3 or shape[1] not in (None, anchors) or shape[2] not in (None, BOX_COLUMNS + num_labels):
        raise EdgekitError(f"{where}: a detector's output must be 1 x {anchors} x {BOX_COLUMNS + num_labels} "
                           f"(4 box columns and one per label), got {shape}")


PARITY_TEXT = ("status", "reason", "images", "metric")
PARITY_NUMBERS = ("agreement", "cosine", "max_abs_diff", "reference_top1", "artifact_top1", "drop_points", "max_drop",
                  "reference_map", "artifact_map", "matched", "mean_iou", "max_score_diff")


def parity_problem(parity) -> str | None:
    """What is wrong with a parity record (manifest or summary.json; export.verify.Parity), or None. Every field
    the report and bench read is checked for its type, so a hand-edited record is one line, never a traceback."""
    if parity is None:
        return None
    if not isinstance(parity, dict):
        return "must be an object"
    for key in PARITY_TEXT:
        if parity.get(key) is not None and not isinstance(parity[key], str):
            return f"field '{key}' must be a string, got {_shown(parity[key])}"
    for key in PARITY_NUMBERS:
        value = parity.get(key)
        if value is not None and not (_real(value) and math.isfinite(value)):
            return f"field '{key}' must be a finite number or null, got {_shown(value)}"
    if parity.get("num_images") is not None and not _int(parity["num_images"], 0):
        return f"field 'num_images' must be a non-negative integer, got {_shown(parity['num_images'])}"
    interval = parity.get("drop_interval")
    if interval is not None and not (isinstance(interval, list) and len(interval) == 2
                                     and all(_real(v) and math.isfinite(v) for v in interval)):
        return f"field 'drop_interval' must be two numbers or null, got {_shown(interval)}"
    if parity.get("gate_resolves") is not None and not isinstance(parity["gate_resolves"], bool):
        return f"field 'gate_resolves' must be true, false or null, got {_shown(parity['gate_resolves'])}"
    if parity.get("threshold") is not None and not isinstance(parity["threshold"], dict):
        return f"field 'threshold' must be an object or null, got {_shown(parity['threshold'])}"
    return None


def weights_problem(weights) -> str | None:
    """What is wrong with a `weights` record (manifest or summary.json), or None: "random" or an object whose
    path is a string and whose val_acc a number."""
    if weights is None or weights == "random":
        return None
    if not isinstance(weights, dict):
        return 'must be "random" or an object'
    for key in ("path", "source", "weights"):
        if weights.get(key) is not None and not isinstance(weights[key], str):
            return f"field '{key}' must be a string, got {_shown(weights[key])}"
    if weights.get("val_acc") is not None and not (_real(weights["val_acc"]) and math.isfinite(weights["val_acc"])):
        return f"field 'val_acc' must be a number, got {_shown(weights['val_acc'])}"
    return None


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def tensor_spec(facts, where: str) -> TensorSpec:
    if not isinstance(facts, dict):
        raise EdgekitError(f"{where} must be an object (name, shape, dtype), got {_shown(facts)}")
    shape = facts.get("shape")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 8 or not all(d is None or _int(d, 1) for d in shape):
        raise EdgekitError(f"{where}: shape must be a list of positive integers (null for a free dimension), "
                           f"got {_shown(shape)}")
    dtype = facts.get("dtype")
    if dtype not in TENSOR_DTYPES:
        raise EdgekitError(f"{where}: dtype must be one of {', '.join(TENSOR_DTYPES)}, got {_shown(dtype)}")
    layout = facts.get("layout")
    if layout is not None and layout not in LAYOUTS:
        raise EdgekitError(f"{where}: layout must be NCHW or NHWC, got {_shown(layout)}")
    name = facts.get("name", "")
    if not isinstance(name, str):
        raise EdgekitError(f"{where}: name must be a string, got {_shown(name)}")
    scale = zero_point = None
    if dtype in INTEGER_DTYPES:
        quant = facts.get("quantization")
        if not isinstance(quant, dict):
            raise EdgekitError(f"{where}: an {dtype} tensor needs quantization {{scale, zero_point}}")
        scale, zero_point = quant.get("scale"), quant.get("zero_point")
        low, high = (-128, 127) if dtype == "int8" else (0, 255)
        if not (isinstance(scale, numbers.Real) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0):
            raise EdgekitError(f"{where}: quantization scale must be a positive finite number, got {_shown(scale)}")
        if not (_int(zero_point, low) and zero_point <= high):
            raise EdgekitError(f"{where}: quantization zero_point must be an integer in {low}..{high}, "
                               f"got {_shown(zero_point)}")
    if layout is None and len(shape) == 4:
        layout = "NCHW" if shape[1] == 3 else "NHWC" if shape[3] == 3 else None
    return TensorSpec(name, tuple(shape), dtype, layout, float(scale) if scale is not None else None,
                      int(zero_point) if zero_point is not None else None)


def _int(value, minimum: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


# every character str.splitlines() breaks a line at (and NUL): a label holding one is not one line of labels.txt
LINE_BREAKS = "\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def _label_ok(label) -> bool:
    return (isinstance(label, str) and label.strip() != "" and len(label) <= MAX_LABEL_LENGTH
            and not any(c in label for c in LINE_BREAKS))


def plain_name(name: str) -> bool:
    """One file name inside the folder: no separator, no '.' or '..', no NUL, not hidden."""
    return (bool(name) and len(name) <= 255 and not any(c in name for c in "/\\\x00")
            and name not in (".", "..") and not name.startswith("."))


def _shown(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
