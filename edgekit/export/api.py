"""export_model: one model, several formats and precisions, every artifact with a manifest and a parity check.

Layout (docs/manifest.md):
    OUT/<model>/<format>-<precision>/{model.<ext>, manifest.json, labels.txt}
    OUT/<model>/summary.json, export.log
One call builds everything it writes (every artifact folder, summary.json, export.log) in one hidden staging
folder `OUT/<model>/.export.staging-XXXX/` and puts it in place only at the end, by renames that are undone if
one fails (fileio.replace_all): an export that is interrupted (Ctrl-C, edgekit.interrupts) or fails on bad input
leaves the previous export exactly as it was. A format that failed to export removes the older folder of the same
format and precision at that moment, so nothing stale looks current. Two exports into one OUT/<model> do not run
together: the second waits for the first (fileio.folder_lock: flock on OUT/<model>/ itself), saying so.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from edgekit.errors import EdgekitError
from edgekit.export.base import ExportRequest, convert, first_line
from edgekit.export.int8_context import Int8Context
from edgekit.export.options import ExportOptions
from edgekit.logcapture import captured
from edgekit.export.source import (PHOTOS_NOTE, PROGRAM_NAME, RANDOM_WEIGHTS_WARNING, Source, imagenet_photo_samples,
                                   load_source, save_program)
from edgekit.export.summary import SUMMARY_NAME, STATUS_SYMBOLS, ArtifactResult, ExportSummary, write_summary  # noqa: F401
from edgekit.export.verify import Parity, compare, parity_images
from edgekit.fileio import (atomic_write_text, folder_lock, make_readable, remove_path, replace_all, staging_folder,
                            writable_folder)
from edgekit.formats import FORMATS, parse_formats, parse_precisions
from edgekit.manifest import LABELS_NAME, build_manifest, write_manifest
from edgekit.predictor import TorchPredictor, predict_in_batches
from edgekit.progress import OnProgress, Progress, Reporter, reporter

RANDOM_WEIGHTS_PARITY_IMAGES = 32  # random weights: fp32 still runs in every runtime, fp16/int8 are not judged
LOG_NAME = "export.log"  # OUT/<model>/export.log: everything the converters printed
STAGING_TAG = "staging"  # OUT/<model>/.export.staging-XXXX: one call's outputs until they are put in place
LEFTOVERS = (".export.staging-*", ".*.old-*", ".*.tmp-*", ".*.tmp")  # what an export killed outright left behind


class ExportFailed(EdgekitError):
    """Some artifact failed to export or failed verification; summary.json was written all the same."""

    def __init__(self, summary: ExportSummary):
        names = ", ".join(f"{r.format}-{r.precision}" for r in summary.failures)
        super().__init__(f"{len(summary.failures)} artifact(s) failed ({names}); see summary.json in {summary.folder} "
                         "(--allow-mismatch to keep going)")
        self.summary = summary


def export_model(options: ExportOptions, *, on_progress: OnProgress | None = None) -> ExportSummary:
    """Export `options.model` (a zoo name, torchvision:NAME, timm:NAME, a .pt2 program or an nn.Module: see
    edgekit.model_source) to each (format, precision); raise EdgekitError on bad input or, unless
    options.allow_mismatch, when an artifact failed to export or failed verification (after writing
    summary.json). Progress, warnings and each finished artifact (a "result" event carrying its ArtifactResult)
    go to `on_progress` (edgekit.progress); converters' own output to OUT/<model>/export.log."""
    if not isinstance(options, ExportOptions):
        raise EdgekitError("export_model takes an ExportOptions: export_model(ExportOptions('mobilenet_v2', ...))")
    caller = reporter(on_progress)
    precisions = parse_precisions(options.precisions)
    options = dataclasses.replace(options, precisions=tuple(precisions))
    explicit_formats = options.formats is not None
    format_names = parse_formats(options.formats, precisions if explicit_formats else [], options)
    _check_out(Path(options.out))
    notes: list[str] = []  # every warning, for summary.json

    def noting(event: Progress) -> None:
        if event.kind == "warning":
            notes.append(event.message)
        caller.emit(event)

    report = Reporter(noting)
    warn = report.warning

    report.stage("loading the model")
    source = load_source(options)  # every problem with the model, its labels or its preprocessing: before any write
    out_dir = _prepare_out(Path(options.out), source.name)

    def waiting() -> None:
        caller.warning(f"another export is writing into {out_dir}: waiting for it to finish (Ctrl-C to stop)")

    with folder_lock(out_dir, on_wait=waiting):
        _remove_leftovers(out_dir)
        staging = staging_folder(out_dir / "export", STAGING_TAG)
        try:
            save_program(source, staging)  # an nn.Module: its program beside the export, for bench's eager baseline
            summary = _export_into(options, source, precisions, format_names, out_dir, staging, report, warn, notes)
            moves = [(staging / r.folder.name if r.folder else None, out_dir / f"{r.format}-{r.precision}")
                     for r in summary.results if r.folder is not None or r.failed]
            moves += [(staging / name, out_dir / name) for name in (SUMMARY_NAME, LOG_NAME, PROGRAM_NAME)
                      if (staging / name).exists()]
            moves += [(None, stale) for stale in _earlier_artifacts(out_dir, staging, moves)]  # see carry_over
            replace_all(moves)  # everything in place, or (a rename failed) everything as it was
        finally:
            remove_path(staging)
    if summary.failures and not options.allow_mismatch:
        raise ExportFailed(summary)
    return summary


def _export_into(options: ExportOptions, source: Source, precisions: list[str], format_names: list[str],
                 out_dir: Path, staging: Path, report: Reporter, warn, notes: list[str]) -> ExportSummary:
    """The export proper: artifact folders, summary.json and export.log written into `staging`; the results and
    the summary name their final places in `out_dir`."""
    if source.random_weights:
        warn(RANDOM_WEIGHTS_WARNING + f" ({source.why_random})")
    for note in source.notes:
        warn(note)
    if source.task == "detection":  # judged on COCO mAP, NMS outside the graph (edgekit.export.detection)
        from edgekit.export.detection import export_detector

        with captured(staging / LOG_NAME):
            results, parity_source, calibration_source = export_detector(options, source, precisions, format_names,
                                                                          out_dir, staging, report)
        summary = ExportSummary(source.name, out_dir, source.weights, results, parity_source,
                                calibration=calibration_source, notes=notes, log=out_dir / LOG_NAME,
                                source=source.record)
        write_summary(summary, staging / SUMMARY_NAME)
        return summary
    report.stage("loading parity images")
    photos = imagenet_photo_samples(source.labels) if source.kind == "pretrained" and not options.val else None
    parity_size = options.parity_size
    if parity_size is None and source.random_weights:  # nothing to judge: a structural run on a few images
        parity_size = RANDOM_WEIGHTS_PARITY_IMAGES
    parity_data = parity_images(source.preprocessing, source.labels, val_dir=Path(options.val) if options.val else None,
                                checkpoint=source.checkpoint, num_images=parity_size, seed=options.seed,
                                samples=photos)
    reference = predict_in_batches(TorchPredictor(source.model), parity_data.images, batch_size=source.reference_batch)
    calibration, calibration_source, int8 = None, None, None
    if "int8" in precisions:
        report.stage("loading calibration images")
        calibration, calibration_source, available = _calibration(options, source, report)
        if source.kind == "pretrained" and options.calib is None:
            warn(PHOTOS_NOTE)

        def load_more(count: int) -> tuple[np.ndarray, str]:
            report.stage(f"int8: loading {count} calibration images")
            images, description, _ = _calibration(dataclasses.replace(options, calib_size=count), source, None)
            return images, description

        int8 = Int8Context(calibration, calibration_source, load_more, available, source.model, report)
    with captured(staging / LOG_NAME):
        results = []
        for precision_name in precisions:
            for format_name in format_names:
                spec = FORMATS[format_name]
                reason = spec.why_not(precision_name)
                if reason:
                    result = ArtifactResult(format_name, precision_name, "skipped", reason=reason)
                else:
                    report.stage(f"{format_name} {precision_name}: exporting")
                    method = (options.calib_method if options.calib_method in spec.calib_methods
                              else spec.default_calib_method())  # not honoured: the row says so
                    format_options = dataclasses.replace(options, calib_method=method,
                                                         keep_float=options.keep_float if spec.keep_float else ())
                    request = ExportRequest(model=source.model, model_name=source.name,
                                            example_input=torch.from_numpy(parity_data.images[:1].copy()),
                                            precision=precision_name, preprocessing=source.preprocessing,
                                            labels=source.labels, calibration=calibration, options=format_options)
                    ignored = spec.cannot_honour(dataclasses.replace(options, precisions=(precision_name,)))
                    result = export_one(format_name, request, staging, source, parity_data, reference,
                                        options.max_drop, calibration_source, ignored, final_dir=out_dir, int8=int8)
                results.append(result)
                report.result(f"{format_name} {precision_name}: {result.status}", result)
    summary = ExportSummary(source.name, out_dir, source.weights, results, parity_data.source,
                            calibration=calibration_source, notes=notes, log=out_dir / LOG_NAME, source=source.record)
    write_summary(summary, staging / SUMMARY_NAME)
    return summary


def export_one(format_name: str, request: ExportRequest, out_dir: Path, source: Source, parity_data,
               reference: np.ndarray, max_drop: float, calibration_source: str | None = None,
               ignored: Sequence[str] = (), final_dir: Path | None = None,
               int8: "Int8Context | None" = None) -> ArtifactResult:
    """Export, verify and describe one artifact in `out_dir/<format>-<precision>/`, built in a hidden folder
    beside it and renamed there only when complete. The result names its folder in `final_dir` (default
    `out_dir`): export_model builds in its staging folder and moves everything to OUT/<model>/ at the end. A
    failure leaves nothing in `out_dir` (the caller removes an older folder of the same name, if any).
    An int8 artifact that misses its gate is repaired under the options' int8_policy (edgekit.export.int8_plan),
    every attempt built in a scratch folder of `out_dir`; `int8` shares the layer ranking and the calibration
    images between formats."""
    spec = FORMATS[format_name]
    built = out_dir / f"{format_name}-{request.precision}"
    final = (final_dir or out_dir) / built.name
    staging = staging_folder(built)
    scratch = staging_folder(out_dir / f"{built.name}-attempts") if request.precision == "int8" else None
    try:
        artifact = staging / spec.artifact
        plan = None
        if request.precision == "int8":
            chosen, plan = _int8_artifact(format_name, request, scratch, source, parity_data, reference, max_drop,
                                          int8 or Int8Context(request.calibration, calibration_source))
            if chosen.parity is None:
                return ArtifactResult(format_name, request.precision, "failed to export", reason=chosen.error,
                                      extra={"int8_plan": plan.to_dict()} if len(plan.steps) > 1 else {})
            built_file, facts, request = chosen.payload
            built_file.replace(artifact)
            parity, seconds = chosen.parity, chosen.seconds
            calibration_source = int8.description_for(len(request.calibration)) if int8 else calibration_source
        else:
            converted = convert(format_name, request, artifact)
            if converted.facts is None:
                return ArtifactResult(format_name, request.precision, "failed to export", reason=converted.error)
            facts, seconds = converted.facts, converted.seconds
            parity = _verify(format_name, artifact, request.precision, parity_data, reference, max_drop, source)
        status = {"passed": "verified", "failed": "failed verification",
                  "not judged": "exported, not judged"}.get(parity.status, "exported, not run here")
        manifest = build_manifest(model_name=request.model_name, format_name=format_name, precision=request.precision,
                                  artifact=artifact, preprocessing=source.preprocessing.to_dict(),
                                  labels=source.labels, weights=source.weights, backend_facts=facts,
                                  input_shape=list(request.example_input.shape), source=source.record)
        manifest.update(status=status, parity=parity.to_dict(), export_seconds=round(seconds, 2))
        if request.precision == "int8":
            manifest["calibration"] = {"images": calibration_source, "count": len(request.calibration),
                                       "method": request.options.calib_method}
            manifest["int8_plan"] = plan.to_dict()
        if ignored:
            manifest["options_not_honoured"] = list(ignored)
        atomic_write_text(staging / LABELS_NAME, "\n".join(source.labels) + "\n")
        try:
            write_manifest(staging, manifest)
        except EdgekitError as error:  # the converter gave something the manifest's readers would refuse
            return ArtifactResult(format_name, request.precision, "failed to export",
                                  reason=f"the artifact's manifest is not valid: {error}")
        make_readable(staging)
        replace_all([(staging, built)])
        extra = {key: facts[key] for key in ("delegation", "integer") if key in facts}
        if plan is not None:
            extra["int8_plan"] = plan.to_dict()
        notes = [parity.reason] * bool(parity.reason) + [f"ignored: {i}" for i in ignored]
        if plan is not None and plan.summary_line():
            notes.insert(0, plan.summary_line())
        return ArtifactResult(format_name, request.precision, status, folder=final, size_bytes=manifest["size_bytes"],
                              seconds=seconds, parity=parity.to_dict(), reason="; ".join(notes), extra=extra)
    finally:
        remove_path(staging)
        if scratch is not None:
            remove_path(scratch)


def _int8_artifact(format_name: str, request: ExportRequest, scratch: Path, source: Source, parity_data,
                   reference: np.ndarray, max_drop: float, context: Int8Context):
    """The int8 artifact as asked, repaired under the options' policy: (the chosen Attempt, its Int8Plan)."""
    from edgekit.export.int8_plan import Attempt, Int8Settings, plan_repair

    spec = FORMATS[format_name]
    options = request.options
    count = iter(range(1, 1000))

    def build(settings: Int8Settings) -> Attempt:
        attempt_request = dataclasses.replace(
            request, calibration=context.images(settings.calib_images),
            options=dataclasses.replace(options, calib_method=settings.calib_method, keep_float=settings.keep_float,
                                        reduce_range=settings.reduce_range))
        if settings.equalize:
            attempt_request = dataclasses.replace(attempt_request, model=context.equalized(settings.reduce_range)[0])
        folder = scratch / f"attempt-{next(count)}"
        folder.mkdir()
        path = folder / spec.artifact
        converted = convert(format_name, attempt_request, path)
        if converted.facts is None:  # a converter crash is a step of the plan
            return Attempt(settings, None, error=converted.error, seconds=converted.seconds)
        facts, seconds = converted.facts, converted.seconds
        parity = _verify(format_name, path, "int8", parity_data, reference, max_drop, source)
        if options.require_integer:
            _require_integer(parity, facts.get("integer"), format_name)
        return Attempt(settings, parity, seconds=seconds, payload=(path, facts, attempt_request))

    asked = Int8Settings(options.calib_method, len(request.calibration), tuple(options.keep_float), options.reduce_range)
    first = build(asked)
    fp32 = scratch.parent / f"{format_name}-fp32" / spec.artifact
    shape = list(request.example_input.shape)
    from edgekit.export import latency

    def ranking_per_ms():  # accuracy per millisecond on the target: the as-asked int8 against fp32, per module
        rows = latency.module_times(format_name, fp32, first.payload[0], shape) or []
        return context.ranking_per_ms({name: f - i for name, f, i in rows})

    per_ms = options.latency_target and format_name == "onnx" and fp32.is_file() and first.payload is not None
    chosen, plan = plan_repair(
        format_name, first, build, max_drop=max_drop, policy=options.int8_policy,
        ranking=ranking_per_ms if per_ms else context.ranking, more_images=context.more_images(),
        require_integer=options.require_integer, on_progress=context.report,
        equalization=(lambda: context.equalized(options.reduce_range)[1]) if context.can_equalize else None,
        fixes=options.int8_fixes)
    if (options.latency_target and chosen.parity is not None and chosen.parity.status in ("passed", "not judged")
            and fp32.is_file()):
        from edgekit.export.int8_plan import plan_latency

        chosen = plan_latency(format_name, chosen, plan, build, target=options.latency_target,
                              time_int8=lambda attempt: latency.time_pair(format_name, fp32, attempt.payload[0], shape),
                              slower=lambda attempt: latency.slower_layers(format_name, fp32, attempt.payload[0], shape),
                              on_progress=context.report)
    return chosen, plan


def _verify(format_name: str, artifact: Path, precision: str, parity_data, reference: np.ndarray, max_drop: float,
            source: Source) -> Parity:
    from edgekit.runtime import open_runtime

    runs, why_not = FORMATS[format_name].runs_here()
    if not runs:
        return Parity(status="not run", reason=f"not run: {why_not} (structure checked: spec, input/output names and shapes)")
    try:
        candidate = open_runtime(format_name, artifact)(parity_data.images)
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


# ----------------------------------------------------------------------------- validation

def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"--out {out} is a file; give a directory")


def _prepare_out(out: Path, model_name: str) -> Path:
    from edgekit.fileio import own_folder

    _check_out(out)
    return writable_folder(own_folder(out / model_name, "--out"), "--out")  # a planted symlink: refused


def _earlier_artifacts(out_dir: Path, staging: Path, moves: list) -> list[Path]:
    """What an earlier export into `out_dir` left that the new summary.json will not vouch for (removed with this
    export's renames); the same model's earlier artifacts are kept and listed in it (summary.carry_over)."""
    from edgekit.export.summary import carry_over

    if not (staging / SUMMARY_NAME).exists():
        return []
    return carry_over(out_dir, staging / SUMMARY_NAME, {final for _, final in moves}, out_dir / PROGRAM_NAME)


def _remove_leftovers(out_dir: Path) -> None:
    """Staging folders and set-aside old folders that an export ended outright (SIGKILL, power loss) left behind;
    called only under the folder's lock, when no other export is using them."""
    for pattern in LEFTOVERS:
        for path in out_dir.glob(pattern):
            remove_path(path)


def _calibration(options: ExportOptions, source: Source, report: Reporter | None) -> tuple[np.ndarray, str, int]:
    """(images, their description, how many images the chosen set holds in all)."""
    from edgekit.image_sets import calibration_images
    from edgekit.quantize.calibration import load_calibration_images

    choice = calibration_images(options.calib, source.checkpoint, source.kind, options.calib_size, options.seed,
                                on_progress=report)
    if options.calib is None and source.kind in ("weights file", "program", "module"):
        reporter(report).warning(f"int8 calibrated on {choice.description}, not on the model's own data: pass "
                                 "--calib DIR with images like the ones it will see")
    images = load_calibration_images(source.preprocessing, paths=choice.paths, on_progress=report)
    return images, choice.description, choice.available
