"""export_model: one model, several formats and precisions, every artifact with a manifest and a parity check.

Layout (docs/manifest.md):
    OUT/<model>/<format>-<precision>/{model.<ext>, manifest.json, labels.txt}
    OUT/<model>/summary.json
Each artifact folder is built in a hidden temporary folder beside it and renamed into place only
once the artifact, its parity result and its manifest are written; a failed export removes any
older folder of the same format and precision, so nothing stale looks current.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from edgekit.errors import EdgekitError
from edgekit.export.base import FORMATS, ExportRequest, first_line, parse_formats
from edgekit.export.manifest import LABELS_NAME, MANIFEST_NAME, build_manifest
from edgekit.export.options import PRECISIONS, ExportEvent, ExportOptions
from edgekit.export.quiet import captured
from edgekit.export.source import (PHOTOS_NOTE, RANDOM_WEIGHTS_WARNING, Source, calibration_choice,
                                   imagenet_photo_samples, load_source)
from edgekit.export.verify import Parity, compare, parity_images
from edgekit.fileio import atomic_write_json, atomic_write_text
from edgekit.predictor import TorchPredictor, predict_in_batches

RANDOM_WEIGHTS_PARITY_IMAGES = 32  # random weights: fp32 still runs in every runtime, fp16/int8 are not judged
LOG_NAME = "export.log"  # OUT/<model>/export.log: everything the converters printed
STATUS_SYMBOLS = {"verified": "✅", "exported, not judged": "☑️", "exported, not run here": "☑️",
                  "failed verification": "❎", "failed to export": "❌", "skipped": "⏭"}


@dataclass
class ArtifactResult:
    format: str
    precision: str
    status: str  # a key of STATUS_SYMBOLS
    folder: Path | None = None
    size_bytes: int | None = None
    seconds: float | None = None
    parity: dict | None = None
    reason: str = ""
    extra: dict = field(default_factory=dict)  # a few backend facts worth a table column (delegation)

    @property
    def symbol(self) -> str:
        return STATUS_SYMBOLS[self.status]

    @property
    def failed(self) -> bool:
        return self.status in ("failed verification", "failed to export")

    def to_dict(self) -> dict:
        return {"format": self.format, "precision": self.precision, "status": self.status,
                "folder": str(self.folder) if self.folder else None, "size_bytes": self.size_bytes,
                "seconds": self.seconds, "parity": self.parity, "reason": self.reason, **self.extra}


@dataclass
class ExportSummary:
    model_name: str
    folder: Path
    weights: dict | str
    results: list[ArtifactResult]
    parity_images: str
    calibration: str | None = None  # which images calibrated int8 (None: no int8)
    notes: list[str] = field(default_factory=list)  # export-wide warnings, said once
    log: Path | None = None  # third-party output of the converters

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    @property
    def failures(self) -> list[ArtifactResult]:
        return [r for r in self.results if r.failed]

    def to_dict(self) -> dict:
        return {"model": self.model_name, "folder": str(self.folder), "weights": self.weights,
                "parity_images": self.parity_images, "calibration": self.calibration, "notes": self.notes,
                "log": str(self.log) if self.log else None, "artifacts": [r.to_dict() for r in self.results]}


class ExportFailed(EdgekitError):
    """Some artifact failed to export or failed verification; summary.json was written all the same."""

    def __init__(self, summary: ExportSummary):
        names = ", ".join(f"{r.format}-{r.precision}" for r in summary.failures)
        super().__init__(f"{len(summary.failures)} artifact(s) failed ({names}); see summary.json in {summary.folder} "
                         "(--allow-mismatch to keep going)")
        self.summary = summary


def export_model(options: ExportOptions, *, on_event: Callable[[ExportEvent], None] | None = None) -> ExportSummary:
    """Export `options.model` to each (format, precision); raise EdgekitError on bad input or, unless
    options.allow_mismatch, when an artifact failed to export or failed verification (after writing
    summary.json). Progress and warnings go to `on_event`; converters' own output to OUT/<model>/export.log."""
    if not isinstance(options, ExportOptions):
        raise EdgekitError("export_model takes an ExportOptions: export_model(ExportOptions('mobilenet_v2', ...))")
    emit = on_event or (lambda event: None)
    precisions = _parse_precisions(options.precisions)
    options = dataclasses.replace(options, precisions=tuple(precisions))
    explicit_formats = options.formats is not None
    format_names = parse_formats(options.formats, precisions if explicit_formats else [], options)
    out_dir = _prepare_out(Path(options.out), options.model)
    notes: list[str] = []

    def warn(message: str) -> None:
        notes.append(message)
        emit(ExportEvent("warning", message))

    emit(ExportEvent("stage", "loading the model"))
    source = load_source(options)
    if source.random_weights:
        warn(RANDOM_WEIGHTS_WARNING + f" ({source.why_random})")
    emit(ExportEvent("stage", "loading parity images"))
    photos = imagenet_photo_samples(source.labels) if source.kind == "pretrained" and not options.val else None
    parity_size = options.parity_size
    if parity_size is None and source.random_weights:  # nothing to judge: a structural run on a few images
        parity_size = RANDOM_WEIGHTS_PARITY_IMAGES
    parity_data = parity_images(source.preprocessing, source.labels, val_dir=Path(options.val) if options.val else None,
                                checkpoint=source.checkpoint, num_images=parity_size, seed=options.seed,
                                samples=photos)
    reference = predict_in_batches(TorchPredictor(source.model), parity_data.images)
    calibration, calibration_source = None, None
    if "int8" in precisions:
        emit(ExportEvent("stage", "loading calibration images"))
        calibration, calibration_source = _calibration(options, source, warn)
        if source.kind == "pretrained" and options.calib is None:
            warn(PHOTOS_NOTE)
    log_path = out_dir / LOG_NAME
    atomic_write_text(log_path, "")
    with captured(log_path):
        results = []
        for precision_name in precisions:
            for format_name in format_names:
                spec = FORMATS[format_name]
                reason = spec.why_not(precision_name)
                if reason:
                    result = ArtifactResult(format_name, precision_name, "skipped", reason=reason)
                else:
                    emit(ExportEvent("stage", f"{format_name} {precision_name}: exporting"))
                    method = (options.calib_method if options.calib_method in spec.calib_methods
                              else spec.default_calib_method())  # not honoured: the row says so
                    format_options = dataclasses.replace(options, calib_method=method,
                                                         keep_float=options.keep_float if spec.keep_float else ())
                    request = ExportRequest(model=source.model, model_name=options.model,
                                            example_input=torch.from_numpy(parity_data.images[:1].copy()),
                                            precision=precision_name, preprocessing=source.preprocessing,
                                            labels=source.labels, calibration=calibration, options=format_options)
                    ignored = spec.cannot_honour(dataclasses.replace(options, precisions=(precision_name,)))
                    result = export_one(format_name, request, out_dir, source, parity_data, reference,
                                        options.max_drop, calibration_source, ignored)
                results.append(result)
                emit(ExportEvent("artifact", f"{format_name} {precision_name}: {result.status}", result))
    summary = ExportSummary(options.model, out_dir, source.weights, results, parity_data.source,
                            calibration=calibration_source, notes=notes, log=log_path)
    atomic_write_json(out_dir / "summary.json", summary.to_dict())
    if summary.failures and not options.allow_mismatch:
        raise ExportFailed(summary)
    return summary


def export_one(format_name: str, request: ExportRequest, out_dir: Path, source: Source, parity_data,
               reference: np.ndarray, max_drop: float, calibration_source: str | None = None,
               ignored: Sequence[str] = ()) -> ArtifactResult:
    """Export, verify and describe one artifact; it appears in place only when complete."""
    spec = FORMATS[format_name]
    final = out_dir / f"{format_name}-{request.precision}"
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{final.name}.tmp-"))
    try:
        artifact = staging / spec.artifact
        started = time.perf_counter()
        try:
            backend = spec.backend()
            facts = backend.export(request, artifact)
        except Exception as error:  # a converter crash is a row in the table, not a traceback
            _remove(final)
            return ArtifactResult(format_name, request.precision, "failed to export", reason=first_line(error))
        seconds = time.perf_counter() - started
        parity = _verify(backend, artifact, request.precision, parity_data, reference, max_drop, source)
        if request.precision == "int8" and request.options.require_integer:
            _require_integer(parity, facts.get("integer"), format_name)
        status = {"passed": "verified", "failed": "failed verification",
                  "not judged": "exported, not judged"}.get(parity.status, "exported, not run here")
        manifest = build_manifest(model_name=request.model_name, format_name=format_name, precision=request.precision,
                                  artifact=artifact, preprocessing=source.preprocessing.to_dict(),
                                  labels=source.labels, weights=source.weights, backend_facts=facts,
                                  input_shape=list(request.example_input.shape))
        manifest.update(status=status, parity=parity.to_dict(), export_seconds=round(seconds, 2))
        if request.precision == "int8":
            manifest["calibration"] = {"images": calibration_source, "count": len(request.calibration),
                                       "method": request.options.calib_method}
        if ignored:
            manifest["options_not_honoured"] = list(ignored)
        atomic_write_text(staging / LABELS_NAME, "\n".join(source.labels) + "\n")
        atomic_write_json(staging / MANIFEST_NAME, manifest)
        _make_readable(staging)
        _swap_into_place(staging, final)
        extra = {key: facts[key] for key in ("delegation", "integer") if key in facts}
        reason = "; ".join([parity.reason] * bool(parity.reason) + [f"ignored: {i}" for i in ignored])
        return ArtifactResult(format_name, request.precision, status, folder=final, size_bytes=manifest["size_bytes"],
                              seconds=seconds, parity=parity.to_dict(), reason=reason, extra=extra)
    finally:
        _remove(staging)


def _verify(backend, artifact: Path, precision: str, parity_data, reference: np.ndarray, max_drop: float,
            source: Source) -> Parity:
    runs, why_not = backend.runs_here()
    if not runs:
        return Parity(status="not run", reason=f"not run: {why_not} (structure checked: spec, input/output names and shapes)")
    try:
        candidate = backend.load_predictor(artifact, {})(parity_data.images)
    except Exception as error:
        return Parity(status="failed", reason=f"the artifact does not run in its runtime: {first_line(error)}")
    parity = compare(reference, candidate, parity_data.labels, precision, max_drop, parity_data.source)
    if source.random_weights:
        if precision == "fp32":  # same graph, same weights: a broken conversion still shows
            parity.reason = (parity.reason + "; " if parity.reason else "") + "random weights: weak evidence"
        else:  # near-constant outputs: fp16/int8 rounding flips top-1 among near-ties, which says nothing
            parity.status, parity.reason = "not judged", "not judged: random weights"
    return parity


def _require_integer(parity: Parity, integer: dict | None, format_name: str) -> None:
    """--require-integer: any float op (or no count at all) fails the artifact's verification."""
    from edgekit.export.integer import summary

    if integer is None:
        problem = f"--require-integer: {format_name} int8 does not report which ops run in float"
    elif integer["float_ops"]:
        problem = f"--require-integer: {integer['float_ops']} op(s) compute in float ({summary(integer).split(': ', 1)[1]})"
    else:
        return
    parity.status = "failed"
    parity.reason = f"{parity.reason}; {problem}" if parity.reason else problem


def _swap_into_place(staging: Path, final: Path) -> None:
    """Replace `final` with `staging` by renames: at no moment is there a half-written `final`."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        _remove(old)
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        _remove(old)


def _make_readable(folder: Path) -> None:
    """mkdtemp/mkstemp create owner-only entries; artifacts are meant to be shared like any output."""
    folder.chmod(0o755)
    for item in folder.rglob("*"):
        item.chmod(0o755 if item.is_dir() else 0o644)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


# ----------------------------------------------------------------------------- validation

def _parse_precisions(precision: str | Sequence[str]) -> list[str]:
    names = [precision] if isinstance(precision, str) else list(precision)
    unknown = [p for p in names if p not in PRECISIONS]
    if unknown or not names:
        raise EdgekitError(f"unknown precision '{unknown[0] if unknown else ''}'; choose from {', '.join(PRECISIONS)}")
    return [p for p in PRECISIONS if p in names]


def _prepare_out(out: Path, model_name: str) -> Path:
    from edgekit.models import get_model_info

    get_model_info(model_name)  # unknown model: a clear error before anything is written
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"--out {out} is a file; give a directory")
    folder = out / model_name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        raise EdgekitError(f"cannot write to --out {out}: {error.strerror or error}") from None
    return folder


def _calibration(options: ExportOptions, source: Source, warn) -> tuple[np.ndarray, str]:
    from edgekit.quantize.calibration import load_calibration_images

    choice = calibration_choice(options, source)
    images = load_calibration_images(source.preprocessing, choice.directory, num_images=options.calib_size,
                                     seed=options.seed, show_progress=False, on_warning=warn, paths=choice.paths)
    return images, choice.description
