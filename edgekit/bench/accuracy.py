"""`bench --data DIR`: each artifact's top-1 in its own runtime on a labelled folder, joined to its rows.

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
    """Fill top1, top1_ci and accuracy_images of the rows; returns the data's description."""
    from edgekit.evaluate import labelled_folder

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
