"""export_model: one model, several formats and precisions, every artifact with a manifest and a parity check.

Layout (docs/manifest.md):
    OUT/<model>/<format>-<precision>/{model.<ext>, manifest.json, labels.txt}
    OUT/<model>/summary.json
Each artifact folder is built in a hidden temporary folder beside it and renamed into place only
once the artifact, its parity result and its manifest are written; a failed export removes any
older folder of the same format and precision, so nothing stale looks current.
"""
from __future__ import annotations

import contextlib
import hashlib
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
from edgekit.export.base import FORMATS, PRECISIONS, ExportOptions, ExportRequest, first_line, parse_formats
from edgekit.export.manifest import LABELS_NAME, MANIFEST_NAME, build_manifest, write_json_atomic
from edgekit.export.verify import DEFAULT_MAX_DROP, DEFAULT_PARITY_IMAGES, Parity, compare, parity_images
from edgekit.paths import DEFAULT_EXPORT_DIR
from edgekit.predictor import TorchPredictor, predict_in_batches
from edgekit.preprocess import Preprocessing

DEFAULT_NUM_CLASSES = 1000  # the architecture "as configured" without a checkpoint: ImageNet's head
RANDOM_WEIGHTS_WARNING = ("no checkpoint: exporting RANDOM weights (architecture only); parity on random "
                          "weights is weak evidence, and the artifacts predict nothing useful")

STATUS_SYMBOLS = {"verified": "✅", "exported, not run here": "☑️", "failed verification": "❎",
                  "failed to export": "❌", "skipped": "⏭"}


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

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    @property
    def failures(self) -> list[ArtifactResult]:
        return [r for r in self.results if r.failed]

    def to_dict(self) -> dict:
        return {"model": self.model_name, "folder": str(self.folder), "weights": self.weights,
                "parity_images": self.parity_images, "artifacts": [r.to_dict() for r in self.results]}


class ExportFailed(EdgekitError):
    """Some artifact failed to export or failed verification; summary.json was written all the same."""

    def __init__(self, summary: ExportSummary):
        names = ", ".join(f"{r.format}-{r.precision}" for r in summary.failures)
        super().__init__(f"{len(summary.failures)} artifact(s) failed ({names}); see summary.json in {summary.folder} "
                         "(--allow-mismatch to keep going)")
        self.summary = summary


@dataclass
class Source:
    """The model to export and the facts that travel with it."""

    model: torch.nn.Module
    labels: list[str]
    preprocessing: Preprocessing
    weights: dict | str
    checkpoint: Path | None


def export_model(model_name: str, *, checkpoint: str | Path | None = None, weights: str | Path | None = None,
                 formats: str | Sequence[str] | None = None, precision: str | Sequence[str] = "fp32",
                 img_size: int | None = None, num_classes: int | None = None, out: str | Path = DEFAULT_EXPORT_DIR,
                 allow_mismatch: bool = False, dynamic_batch: bool = False, val: str | Path | None = None,
                 max_drop: float = DEFAULT_MAX_DROP, calib: str | Path | None = None, calib_size: int = 200,
                 calib_method: str = "minmax", int8_io: bool = False, keep_float: Sequence[str] = (),
                 parity_size: int = DEFAULT_PARITY_IMAGES,
                 on_stage: Callable[[str], None] | None = None) -> ExportSummary:
    """Export MODEL to each (format, precision); raise EdgekitError on bad input or, unless
    allow_mismatch, when an artifact failed to export or failed verification (after writing summary.json)."""
    say = on_stage or (lambda message: None)
    precisions = _parse_precisions(precision)
    explicit_formats = formats is not None
    format_names = parse_formats(formats, precisions if explicit_formats else [])
    out_dir = _prepare_out(Path(out), model_name)
    source = _load_source(model_name, checkpoint, weights, img_size, num_classes)
    if source.weights == "random":
        say(f"[bold yellow]warning:[/] {RANDOM_WEIGHTS_WARNING}")
    say("loading parity images")
    parity_data = parity_images(source.preprocessing, source.labels, val_dir=Path(val) if val else None,
                                checkpoint=source.checkpoint, num_images=parity_size)
    reference = predict_in_batches(TorchPredictor(source.model), parity_data.images)
    calibration = _calibration(source.preprocessing, calib, calib_size, say) if "int8" in precisions else None
    options = ExportOptions(dynamic_batch=dynamic_batch, int8_io=int8_io, calib_method=calib_method,
                            keep_float=tuple(keep_float))
    results = []
    for precision_name in precisions:
        request = ExportRequest(model=source.model, model_name=model_name,
                                example_input=torch.from_numpy(parity_data.images[:1].copy()),
                                precision=precision_name, preprocessing=source.preprocessing, labels=source.labels,
                                calibration=calibration, options=options)
        for format_name in format_names:
            reason = FORMATS[format_name].why_not(precision_name)
            if reason:
                results.append(ArtifactResult(format_name, precision_name, "skipped", reason=reason))
                continue
            say(f"{format_name} {precision_name}: exporting")
            results.append(export_one(format_name, request, out_dir, source, parity_data, reference, max_drop))
    summary = ExportSummary(model_name, out_dir, source.weights, results, parity_data.source)
    write_json_atomic(out_dir / "summary.json", summary.to_dict())
    (out_dir / "summary.json").chmod(0o644)
    if summary.failures and not allow_mismatch:
        raise ExportFailed(summary)
    return summary


def export_one(format_name: str, request: ExportRequest, out_dir: Path, source: Source, parity_data,
               reference: np.ndarray, max_drop: float) -> ArtifactResult:
    """Export, verify and describe one artifact; it appears in place only when complete."""
    spec = FORMATS[format_name]
    final = out_dir / f"{format_name}-{request.precision}"
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{final.name}.tmp-"))
    try:
        artifact = staging / spec.artifact
        started = time.perf_counter()
        try:
            backend = spec.backend()
            with _quiet():
                facts = backend.export(request, artifact)
        except Exception as error:  # a converter crash is a row in the table, not a traceback
            _remove(final)
            return ArtifactResult(format_name, request.precision, "failed to export", reason=first_line(error))
        seconds = time.perf_counter() - started
        parity = _verify(backend, artifact, request.precision, parity_data, reference, max_drop, source)
        status = {"passed": "verified", "failed": "failed verification"}.get(parity.status, "exported, not run here")
        manifest = build_manifest(model_name=request.model_name, format_name=format_name, precision=request.precision,
                                  artifact=artifact, preprocessing=source.preprocessing.to_dict(),
                                  labels=source.labels, weights=source.weights, backend_facts=facts,
                                  input_shape=list(request.example_input.shape))
        manifest.update(status=status, parity=parity.to_dict(), export_seconds=round(seconds, 2))
        (staging / LABELS_NAME).write_text("\n".join(source.labels) + "\n", encoding="utf-8")
        write_json_atomic(staging / MANIFEST_NAME, manifest)
        _make_readable(staging)
        _swap_into_place(staging, final)
        extra = {"delegation": facts["delegation"]} if "delegation" in facts else {}
        return ArtifactResult(format_name, request.precision, status, folder=final, size_bytes=manifest["size_bytes"],
                              seconds=seconds, parity=parity.to_dict(), reason=parity.reason, extra=extra)
    finally:
        _remove(staging)


def _verify(backend, artifact: Path, precision: str, parity_data, reference: np.ndarray, max_drop: float,
            source: Source) -> Parity:
    runs, why_not = backend.runs_here()
    if not runs:
        return Parity(status="not run", reason=f"not run: {why_not} (structure checked: spec, input/output names and shapes)")
    try:
        with _quiet():
            candidate = backend.load_predictor(artifact, {})(parity_data.images)
    except Exception as error:
        return Parity(status="failed", reason=f"the artifact does not run in its runtime: {first_line(error)}")
    parity = compare(reference, candidate, parity_data.labels, precision, max_drop, parity_data.source)
    if source.weights == "random":
        parity.reason = (parity.reason + "; " if parity.reason else "") + "random weights: weak evidence"
    return parity


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


@contextlib.contextmanager
def _quiet():
    """Converters print progress bars and banners to stdout; keep the user's table readable."""
    import io
    import warnings

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


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


def _load_source(model_name: str, checkpoint, weights, img_size: int | None, num_classes: int | None) -> Source:
    from edgekit.checkpoint import load_checkpoint, load_weights_file
    from edgekit.models import create_model, get_model_info

    info = get_model_info(model_name)
    if checkpoint and weights:
        raise EdgekitError("give --checkpoint or --weights, not both")
    if checkpoint:
        loaded = load_checkpoint(checkpoint)
        if loaded.model_name != model_name:
            raise EdgekitError(f"{checkpoint} is a {loaded.model_name} checkpoint, not {model_name}; "
                               f"run `edgekit export {loaded.model_name} --checkpoint {checkpoint}`")
        if img_size is not None and img_size != loaded.preprocessing.img_size:
            raise EdgekitError(f"--img-size {img_size} disagrees with the checkpoint, trained at "
                               f"{loaded.preprocessing.img_size}; leave --img-size out (the checkpoint decides)")
        if num_classes is not None and num_classes != loaded.num_classes:
            raise EdgekitError(f"--num-classes {num_classes} disagrees with the checkpoint's {loaded.num_classes} classes")
        _check_min_size(info, loaded.preprocessing.img_size)
        return Source(model=loaded.build_model(), labels=list(loaded.labels), preprocessing=loaded.preprocessing,
                      weights={"source": "checkpoint", "path": str(Path(checkpoint).resolve()),
                               "sha256": _file_sha256(Path(checkpoint)), "val_acc": loaded.meta.get("val_acc")},
                      checkpoint=Path(checkpoint))
    size = img_size or info.default_img_size
    _check_min_size(info, size)
    classes = num_classes or DEFAULT_NUM_CLASSES
    model = create_model(model_name, num_classes=classes).eval()
    labels = [f"class_{i}" for i in range(classes)]
    if weights:
        load_weights_file(model, weights)
        source = {"source": "weights file", "path": str(Path(weights).resolve()), "sha256": _file_sha256(Path(weights))}
    else:
        source = "random"
    return Source(model=model.eval(), labels=labels, preprocessing=Preprocessing(img_size=size), weights=source,
                  checkpoint=None)


def _check_min_size(info, size: int) -> None:
    if size < info.min_img_size:
        raise EdgekitError(f"input size {size} is below {info.name}'s minimum of {info.min_img_size} px")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _calibration(preprocessing: Preprocessing, calib, calib_size: int, say) -> np.ndarray:
    from edgekit.quantize.calibration import load_calibration_images

    say("loading calibration images")
    return load_calibration_images(preprocessing, directory=Path(calib) if calib else None, num_images=calib_size, seed=0)
