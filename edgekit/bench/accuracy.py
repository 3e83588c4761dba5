"""`bench --data DIR`: each artifact's top-1 in its own runtime on a labelled folder, joined to its rows (a
detector's: its COCO mAP on a detection folder's validation split, `map` in points, by edgekit.detection_eval).

Accuracy is measured once per artifact (not per thread count: threads do not change the arithmetic
of these runtimes' CPU kernels) and copied into every row of that artifact, with the 95 % Wilson
interval and the number of images. The eager baseline gets the checkpoint's accuracy when the export
came from a checkpoint that is still there; otherwise its accuracy stays unknown (None).
"""
from __future__ import annotations

from pathlib import Path

from edgekit.artifacts import Artifact
from edgekit.bench.rows import BenchRow
from edgekit.errors import EdgekitError
from edgekit.progress import OnProgress, Reporter, reporter


def _accuracy(predictor, samples, classes, labels, preprocessing) -> tuple[float, list[float], int]:
    from edgekit.evaluate import align_labels, evaluate_predictor

    report = evaluate_predictor(predictor, align_labels(samples, classes, labels), labels, preprocessing)
    return 100.0 * report.accuracy, report.top1_ci, report.num_images


def join_accuracy(rows: list[BenchRow], artifacts: list[Artifact], data: Path,
                  on_progress: OnProgress | Reporter | None = None) -> str:
    """Fill top1, top1_ci and accuracy_images of the rows (detectors: map and accuracy_images); returns the data's
    description."""
    from edgekit.evaluate import labelled_folder

    detectors = [a for a in artifacts if a.manifest.raw.get("task") == "detection"]
    if detectors and len(detectors) != len(artifacts):
        raise EdgekitError("--data scores one kind of model, and this folder holds detectors and classifiers: "
                           "bench them apart (one model's folder each)")
    if detectors:
        return join_map(rows, detectors, data, on_progress)
    say = reporter(on_progress).stage
    samples, classes, description = labelled_folder(data)
    results: dict[tuple, tuple[float, list[float], int]] = {}
    for artifact in artifacts:
        if not artifact.runs_here()[0]:
            continue
        say(f"accuracy of {artifact.name} on {description}")
        try:
            results[(artifact.model, artifact.format, artifact.precision)] = _accuracy(
                artifact.predictor(), samples, classes, artifact.labels, artifact.preprocessing)
        except EdgekitError:
            raise
        except Exception as error:  # a runtime failing here fails the accuracy, not the whole bench
            for row in rows:
                if (row.model, row.format, row.precision) == (artifact.model, artifact.format, artifact.precision):
                    row.reason = "; ".join(x for x in (row.reason, f"accuracy not measured: {error}") if x)
    for model in {a.model for a in artifacts}:
        first = next(a for a in artifacts if a.model == model)
        checkpoint = first.manifest.source_checkpoint()
        if checkpoint is not None:
            from edgekit.checkpoint import load_checkpoint
            from edgekit.evaluate import checkpoint_predictor

            say(f"accuracy of the {model} checkpoint (pytorch eager) on {description}")
            ckpt = load_checkpoint(checkpoint)
            results[(model, "pytorch", "fp32")] = _accuracy(checkpoint_predictor(ckpt), samples, classes,
                                                            ckpt.labels, ckpt.preprocessing)
    for row in rows:
        found = results.get((row.model, row.format, row.precision))
        if found is not None and row.device == "host":
            row.top1, row.top1_ci, row.accuracy_images = found
            row.extra = {**row.extra, "accuracy_data": description}
    return description


def join_map(rows: list[BenchRow], artifacts: list[Artifact], data: Path,
             on_progress: OnProgress | Reporter | None = None) -> str:
    """Detectors: each artifact's COCO mAP@[.5:.95] (points) in its own runtime on `data`'s validation split (a
    folder without splits: all of it), and the eager baseline's from the checkpoint the export came from; the same
    images, preprocessing and NMS for every row (edgekit.detection_eval.runner_map). NMS time (post_p50_ms) is then
    the median over these images' real outputs instead of the bench input's: how many boxes pass the score
    threshold, and so NMS time, depends on the picture."""
    import numpy as np

    from edgekit.detection_eval import align_boxes, detection_data, runner_map
    from edgekit.detection_predict import open_detector

    say = reporter(on_progress)
    images, data_classes, description = detection_data(None, data, "val")
    results: dict[tuple, tuple[float, int, float]] = {}
    targets = [((a.model, a.format, a.precision), a.folder, a.labels) for a in artifacts if a.runs_here()[0]]
    for model in sorted({a.model for a in artifacts}):
        checkpoint = next(a for a in artifacts if a.model == model).manifest.source_checkpoint()
        if checkpoint is not None:
            targets.append(((model, "pytorch", "fp32"), checkpoint, next(a for a in artifacts if a.model == model).labels))
    for key, where, labels in targets:
        say.stage(f"mAP of {key[0]} {'pytorch eager' if key[1] == 'pytorch' else key[1] + '-' + key[2]} on {description}")
        aligned = align_boxes(images, data_classes, list(labels))
        post_ms: list[float] = []
        try:
            report = runner_map(open_detector(where), aligned, say, post_ms)
        except EdgekitError:
            raise
        except Exception as error:  # a runtime failing here fails the mAP, not the whole bench
            for row in rows:
                if (row.model, row.format, row.precision) == key:
                    row.reason = "; ".join(x for x in (row.reason, f"mAP not measured: {error}") if x)
            continue
        results[key] = (100.0 * report.map, report.num_images, float(np.median(post_ms)))
    for row in rows:
        found = results.get((row.model, row.format, row.precision))
        if found is not None and row.device == "host":
            row.map, row.accuracy_images, row.post_p50_ms = found
            row.extra = {**row.extra, "accuracy_data": description, "post_input": f"the --data images: {description}",
                         "post_repeats": found[1]}
    return description
