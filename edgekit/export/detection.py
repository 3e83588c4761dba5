"""Exporting a detector: a detector's checkpoint to every format, each artifact judged on COCO mAP in its runtime.

`edgekit export ssdlite_mobilenet_v2 --checkpoint RUN/best.pt` comes here from export_model once the source is a
detector (edgekit.export.source): the graph is edgekit.detector.DetectorGraph (backbone, heads, box decoding with
the default boxes baked in; one `detections` output, layout in edgekit.detection_post) and NMS stays outside.

    parity images   the detector's validation split (RUN/splits/, the images best.pt was chosen on), or --val DIR
                    (a COCO or YOLO folder, or a prepared detection directory): its `val` split, else all of it
    reference       the same graph in PyTorch, post-processed by edgekit.detection_post like every artifact
    judged          COCO mAP@[.5:.95] of PyTorch and of the artifact on those images (pycocotools); the drop in
                    points against --max-drop, with a paired bootstrap 95 % interval (the same resampled images
                    for both, MAP_RESAMPLES draws, seeded); and the boxes: the share of PyTorch's detections the
                    artifact matches (same class, IoU >= 0.5), their mean IoU and largest score difference
    int8            calibrated on the detector's training split (or --calib), the classifier's calibration per
                    format; an artifact over --max-drop is repaired by the classifier's plan (edgekit.export.int8_plan,
                    --int8-policy, --int8-fixes): the format's other calibration method, more calibration images
                    (the training split), then the fewest layers kept in float, ranked once on calibration images
                    (simulated int8 one layer at a time, each image's whole output compared with float by cosine),
                    every attempt re-verified on mAP. Cross-layer equalization is not offered for detectors.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgekit.detection_metrics import ImagePredictions, coco_map, graph_predictions
from edgekit.detection_post import BOX_COLUMNS, LAYOUT, Detections, PostprocessSettings, match_detections
from edgekit.errors import EdgekitError
from edgekit.export.base import ExportRequest, convert, first_line
from edgekit.export.int8_context import Int8Context
from edgekit.export.options import ExportOptions
from edgekit.export.source import Source
from edgekit.export.summary import ArtifactResult
from edgekit.export.verify import Parity
from edgekit.fileio import atomic_write_text, make_readable, remove_path, replace_all, staging_folder
from edgekit.formats import FORMATS
from edgekit.images import seeded_sample
from edgekit.manifest import LABELS_NAME, build_manifest, write_manifest
from edgekit.progress import Reporter

OUTPUT_NAME = "detections"
MAP_RESAMPLES = 100  # bootstrap draws of the mAP drop's interval
MATCH_IOU = 0.5
RANK_CALIBRATION, RANK_COMPARED = 32, 32  # the float-layer ranking: calibration images for ranges, then compared


@dataclass
class DetectionParity:
    images: np.ndarray  # (N, 3, S, S) float32, the checkpoint's preprocessing
    truth: list  # edgekit.data.detection.DetectionImage, boxes in the model's class order
    source: str


@dataclass
class Judged:
    outputs: np.ndarray  # (N, A, 4 + K)
    found: list[Detections]  # in the network frame
    in_pixels: list[ImagePredictions]  # in each image's own pixels
    map: float  # 0-1


def parity_data(source: Source, options: ExportOptions) -> DetectionParity:
    from edgekit.detection_eval import align_boxes, detection_data

    if source.checkpoint is None:
        raise EdgekitError("a detector is exported from its checkpoint (--checkpoint RUN/best.pt)")
    try:
        images, classes, description = detection_data(source.checkpoint, Path(options.val) if options.val else None,
                                                      "val")
    except EdgekitError as error:
        if options.val:
            raise
        raise EdgekitError(f"{error}".replace("pass --data DIR", "pass --val DIR (a COCO or YOLO folder, or a "
                                                                 "prepared detection directory)")) from None
    images = align_boxes(images, classes, source.labels)
    if options.parity_size is not None and options.parity_size < len(images):
        images = seeded_sample(images, options.parity_size, options.seed)
        description = f"{description}, a seeded sample of {options.parity_size}"
    return DetectionParity(source.preprocessing.load_batch([image.path for image in images]), images, description)


def calibration_images(source: Source, options: ExportOptions, report: Reporter) -> tuple[np.ndarray, str]:
    """--calib DIR's images, else the detector's training split (its run's, else the --val folder's): a seeded
    sample of --calib-size."""
    from edgekit.detection_eval import detection_data
    from edgekit.image_sets import sample_folder

    if options.calib is not None:
        paths, pool = sample_folder(options.calib, options.calib_size, options.seed, "--calib", report)
        return source.preprocessing.load_batch(paths), f"--calib {options.calib} ({len(paths)} of {len(pool)} images)"
    try:
        images, _, description = detection_data(source.checkpoint, None, "train")
    except EdgekitError:  # a checkpoint without its run beside it: the --val folder's training split
        if not options.val:
            raise EdgekitError(f"{source.checkpoint}: no recorded splits beside it to calibrate int8 on; pass --calib "
                               "DIR (images like the ones it will see) or --val DIR (a detection folder with a "
                               "train split)") from None
        images, _, description = detection_data(source.checkpoint, Path(options.val), "train")
    chosen = seeded_sample(images, options.calib_size, options.seed)
    return (source.preprocessing.load_batch([image.path for image in chosen]),
            f"{description}: {len(chosen)} images, seed {options.seed}")


def judge(outputs: np.ndarray, parity: DetectionParity, source: Source, settings: PostprocessSettings,
          labels: list[str]) -> Judged:
    """Post-process every image's output, map the boxes back to its pixels, score with COCOeval."""
    found, in_pixels = graph_predictions(outputs, parity.truth, source.preprocessing, settings)
    return Judged(outputs, found, in_pixels, coco_map(parity.truth, labels, in_pixels).map)


class Bootstrap:
    """The paired bootstrap of the mAP drop: MAP_RESAMPLES seeded draws of the parity images (with replacement),
    the same for every artifact, PyTorch's mAP on each draw computed once."""

    def __init__(self, reference: Judged, parity: DetectionParity, labels: list[str], seed: int = 0):
        rng = np.random.default_rng(seed)
        count = len(parity.truth)
        self.parity, self.labels = parity, labels
        self.picks = [rng.integers(0, count, count) for _ in range(MAP_RESAMPLES)]
        self.reference = None
        self._reference_judged = reference

    def _map(self, judged: Judged, pick) -> float:
        return coco_map([self.parity.truth[i] for i in pick], self.labels, [judged.in_pixels[i] for i in pick]).map

    def interval(self, candidate: Judged) -> list[float]:
        """Paired 95 % percentile interval (points) of the mAP drop."""
        if self.reference is None:
            self.reference = [self._map(self._reference_judged, pick) for pick in self.picks]
        drops = [100 * (ref - self._map(candidate, pick)) for ref, pick in zip(self.reference, self.picks)]
        low, high = np.percentile(drops, [2.5, 97.5])
        return [round(float(low), 3), round(float(high), 3)]


def verify(format_name: str, artifact: Path, parity: DetectionParity, reference: Judged, source: Source,
           settings: PostprocessSettings, max_drop: float, bootstrap: Bootstrap) -> Parity:
    from edgekit.runtime import open_runtime

    runs, why_not = FORMATS[format_name].runs_here()
    if not runs:
        return Parity(status="not run", reason=f"not run: {why_not}", metric="map")
    try:
        outputs = open_runtime(format_name, artifact)(parity.images).reshape(reference.outputs.shape)
    except Exception as error:
        return Parity(status="failed", reason=f"the artifact does not run in its runtime: {first_line(error)}",
                      metric="map")
    candidate = judge(outputs, parity, source, settings, source.labels)
    matches = [match_detections(r, c, MATCH_IOU) for r, c in zip(reference.found, candidate.found)]
    boxes, matched = sum(m["reference_boxes"] for m in matches), sum(m["matched"] for m in matches)
    drop = 100 * (reference.map - candidate.map)
    passed = drop <= max_drop
    return Parity(status="passed" if passed else "failed",
                  reason="" if passed else f"mAP drop {drop:.1f} points > --max-drop {max_drop:g}",
                  num_images=len(parity.truth), images=parity.source, metric="map",
                  reference_map=round(100 * reference.map, 3), artifact_map=round(100 * candidate.map, 3),
                  drop_points=round(drop, 3), drop_interval=bootstrap.interval(candidate),
                  max_abs_diff=float(np.abs(outputs - reference.outputs).max()), max_drop=max_drop,
                  matched=round(matched / boxes, 4) if boxes else None,
                  agreement=round(matched / boxes, 4) if boxes else 1.0,  # int8_plan's "compared" mark
                  mean_iou=round(sum(m["iou_sum"] for m in matches) / matched, 4) if matched else None,
                  max_score_diff=max((m["max_score_diff"] for m in matches), default=0.0))


def int8_context(source: Source, options: ExportOptions, calibration: np.ndarray, description: str,
                 report: Reporter) -> "DetectorInt8Context":
    """The int8 repair's shared state for a detector: the calibration images, a larger sample of the training split
    on demand (not with --calib: that folder is the user's choice), and the float-layer ranking."""
    def load_more(count: int) -> tuple[np.ndarray, str]:
        return calibration_images(source, dataclasses.replace(options, calib_size=count), report)

    return DetectorInt8Context(calibration, description, None if options.calib is not None else load_more,
                               _training_images(source, options), source.model, report)


def _training_images(source: Source, options: ExportOptions) -> int | None:
    from edgekit.detection_eval import detection_data

    for data in (None, Path(options.val) if options.val else None):
        try:
            return len(detection_data(source.checkpoint, data, "train")[0])
        except EdgekitError:
            continue
    return None


class _FlatOutput(torch.nn.Module):
    """The detector's graph with each image's output as one row (N x A(4 + K)), for the ranking's cosine."""

    def __init__(self, graph: torch.nn.Module):
        super().__init__()
        self.graph = graph

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.graph(images).flatten(1)


class DetectorInt8Context(Int8Context):
    """Int8Context whose ranking suits a detector: no top-1 to agree on, so each image's whole output (boxes and
    class probabilities) is compared with float by cosine. No cross-layer equalization is offered."""

    @property
    def can_equalize(self) -> bool:
        return False

    def ranking(self) -> tuple[list[str], dict]:
        """conv/linear module names of the graph, the worst in simulated int8 first (edgekit.quantize.sensitivity.
        simulated_sensitivity, one layer at a time, on the calibration images, never the gate's); computed once."""
        if self._ranking is None:
            import time

            from edgekit.quantize.sensitivity import simulated_sensitivity

            self.report.stage("int8: ranking the detector's layers by simulated int8 sensitivity (calibration images)")
            started = time.perf_counter()
            images = self.calibration
            half = max(1, min(RANK_CALIBRATION, len(images) // 2))
            compared = images[half:half + RANK_COMPARED] if len(images) > half else images
            rows = sorted(simulated_sensitivity(_FlatOutput(self._model), images[:half], compared),
                          key=lambda row: row.cosine)
            names = [row.name.removeprefix("graph.") for row in rows]
            self._ranking = (names, {
                "images": f"{self.description}: {half} give the ranges, {len(compared)} compared (none of the gate's "
                          "images)",
                "method": "one conv/linear layer in simulated int8 at a time (BatchNorm folded), each image's whole "
                          "output (boxes and class probabilities) compared with float: cosine",
                "layers": [{"name": name, "cosine": round(row.cosine, 6)} for name, row in zip(names, rows[:16])],
                "seconds": round(time.perf_counter() - started, 1)})
        return self._ranking


def _repair_int8(format_name: str, request: ExportRequest, scratch: Path, parity: "DetectionParity", reference: Judged,
                 source: Source, settings: PostprocessSettings, max_drop: float, bootstrap: Bootstrap, context):
    """The int8 artifact as asked, then repaired under the options' policy (edgekit.export.int8_plan): (the chosen
    Attempt, its Int8Plan). Each attempt is converted into `scratch` and judged on mAP like the first."""
    from edgekit.export.int8_plan import Attempt, Int8Settings, plan_repair

    spec, options, count = FORMATS[format_name], request.options, iter(range(1, 1000))

    def build(chosen: Int8Settings) -> Attempt:
        attempt_request = dataclasses.replace(
            request, calibration=context.images(chosen.calib_images),
            options=dataclasses.replace(options, calib_method=chosen.calib_method, keep_float=chosen.keep_float,
                                        reduce_range=chosen.reduce_range))
        folder = scratch / f"attempt-{next(count)}"
        folder.mkdir()
        converted = convert(format_name, attempt_request, folder / spec.artifact)
        if converted.facts is None:
            return Attempt(chosen, None, error=converted.error, seconds=converted.seconds)
        judged = verify(format_name, folder / spec.artifact, parity, reference, source, settings, max_drop, bootstrap)
        return Attempt(chosen, judged, seconds=converted.seconds,
                       payload=(folder / spec.artifact, converted.facts, attempt_request))

    first = build(Int8Settings(options.calib_method, len(request.calibration), tuple(options.keep_float),
                               options.reduce_range))
    return plan_repair(format_name, first, build, max_drop=max_drop, policy=options.int8_policy,
                       ranking=context.ranking, more_images=context.more_images(),
                       require_integer=options.require_integer, on_progress=context.report, equalization=None,
                       fixes=options.int8_fixes)


def reference_outputs(model: torch.nn.Module, images: np.ndarray, batch: int = 16) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(images[i:i + batch])).numpy()
                               for i in range(0, len(images), batch)])


def export_detector(options: ExportOptions, source: Source, precisions: list[str], format_names: list[str],
                    out_dir: Path, staging: Path, report: Reporter) -> tuple[list[ArtifactResult], str, str | None]:
    """Every (format, precision) of a detector into `staging` (moved to `out_dir` by the caller): (the results,
    the parity images' description, the calibration images' description)."""
    settings = PostprocessSettings.from_dict(source.origin.detection["postprocess"])
    report.stage("loading parity images (the detector's validation split)")
    parity = parity_data(source, options)
    report.stage("PyTorch reference detections and mAP")
    reference = judge(reference_outputs(source.model, parity.images), parity, source, settings, source.labels)
    bootstrap = Bootstrap(reference, parity, source.labels, options.seed)
    calibration, calibration_source, context = None, None, None
    if "int8" in precisions:
        report.stage("loading calibration images")
        calibration, calibration_source = calibration_images(source, options, report)
        context = int8_context(source, options, calibration, calibration_source, report)
    results = []
    for precision in precisions:
        for format_name in format_names:
            reason = FORMATS[format_name].why_not(precision)
            if reason:
                result = ArtifactResult(format_name, precision, "skipped", reason=reason)
            else:
                report.stage(f"{format_name} {precision}: exporting")
                spec = FORMATS[format_name]
                method = options.calib_method if options.calib_method in spec.calib_methods else spec.default_calib_method()
                request = ExportRequest(model=source.model, model_name=source.name,
                                        example_input=torch.from_numpy(parity.images[:1].copy()), precision=precision,
                                        preprocessing=source.preprocessing, labels=source.labels,
                                        calibration=calibration if precision == "int8" else None,
                                        options=dataclasses.replace(options, calib_method=method, keep_float=tuple(
                                            options.keep_float) if spec.keep_float and precision == "int8" else ()),
                                        output_name=OUTPUT_NAME)
                result = _export_one(format_name, request, staging, out_dir, source, parity, reference, settings,
                                     options.max_drop, calibration_source, bootstrap, context)
            results.append(result)
            report.result(f"{format_name} {precision}: {result.status}", result)
    return results, parity.source, calibration_source


def _export_one(format_name: str, request: ExportRequest, staging_root: Path, out_dir: Path, source: Source,
                parity: DetectionParity, reference: Judged, settings: PostprocessSettings, max_drop: float,
                calibration_source: str | None, bootstrap: Bootstrap, context=None) -> ArtifactResult:
    spec, name = FORMATS[format_name], f"{format_name}-{request.precision}"
    staging = staging_folder(staging_root / name)
    scratch, plan = None, None
    try:
        artifact = staging / spec.artifact
        if request.precision == "int8":
            scratch = staging_folder(staging_root / f"{name}.attempts")
            chosen, plan = _repair_int8(format_name, request, scratch, parity, reference, source, settings, max_drop,
                                        bootstrap, context)
            if chosen.parity is None:
                return ArtifactResult(format_name, request.precision, "failed to export", reason=chosen.error,
                                      extra={"int8_plan": plan.to_dict()} if len(plan.steps) > 1 else {})
            built, facts, request = chosen.payload
            built.replace(artifact)
            parity_result, seconds = chosen.parity, chosen.seconds
            calibration_source = context.description_for(len(request.calibration))
        else:
            converted = convert(format_name, request, artifact)
            if converted.facts is None:
                return ArtifactResult(format_name, request.precision, "failed to export", reason=converted.error)
            facts, seconds = converted.facts, converted.seconds
            parity_result = verify(format_name, artifact, parity, reference, source, settings, max_drop, bootstrap)
        status = {"passed": "verified", "failed": "failed verification"}.get(parity_result.status,
                                                                               "exported, not run here")
        manifest = build_manifest(model_name=request.model_name, format_name=format_name, precision=request.precision,
                                  artifact=artifact, preprocessing=source.preprocessing.to_dict(), labels=source.labels,
                                  weights=source.weights, backend_facts=facts,
                                  input_shape=list(request.example_input.shape), source=source.record)
        width = BOX_COLUMNS + len(source.labels)
        declared = manifest["output"].get("shape")
        manifest["output"].update(name=manifest["output"].get("name") if format_name == "onnx" else OUTPUT_NAME,
                                  shape=declared if declared and len(declared) == 3 else
                                  [1, source.origin.detection["num_anchors"], width], meaning=LAYOUT)
        manifest.update(task="detection", status=status, parity=parity_result.to_dict(),
                        export_seconds=round(seconds, 2),
                        detection={"num_anchors": source.origin.detection["num_anchors"], "layout": LAYOUT,
                                   "postprocess": settings.to_dict(),
                                   "postprocess_function": "edgekit.detection_post.postprocess"})
        notes = [parity_result.reason] * bool(parity_result.reason)
        if request.precision == "int8":
            manifest["calibration"] = {"images": calibration_source, "count": len(request.calibration),
                                       "method": request.options.calib_method}
            manifest["int8_plan"] = plan.to_dict()
            if len(plan.steps) > 1 or plan.outcome not in ("met as asked", "not run"):
                notes.append(plan.summary_line())
        atomic_write_text(staging / LABELS_NAME, "\n".join(source.labels) + "\n")
        try:
            write_manifest(staging, manifest)
        except EdgekitError as error:
            return ArtifactResult(format_name, request.precision, "failed to export",
                                  reason=f"the artifact's manifest is not valid: {error}")
        make_readable(staging)
        replace_all([(staging, staging_root / name)])
        extra = {key: facts[key] for key in ("delegation", "integer") if key in facts}
        if plan is not None and len(plan.steps) > 1:
            extra["int8_plan"] = plan.to_dict()
        return ArtifactResult(format_name, request.precision, status, folder=out_dir / name,
                              size_bytes=manifest["size_bytes"], seconds=seconds, parity=parity_result.to_dict(),
                              reason="; ".join(notes), extra=extra)
    finally:
        remove_path(staging)
        if scratch is not None:
            remove_path(scratch)
