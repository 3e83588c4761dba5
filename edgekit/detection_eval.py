"""`edgekit eval` for a detector: COCO mAP (pycocotools) of a checkpoint, or of an exported detector in its own
runtime (`edgekit eval OUT/<model>/<format>-<precision>`: NMS by edgekit.detection_post, as the manifest says), on a
detection folder.

    result = evaluate_detection(EvalOptions("runs/det/best.pt", data=None, split="val"))
    result.report.map, result.report.map50, result.report.per_class   # eval-best/eval.json

The data: a COCO or YOLO folder or a prepared detection directory; without --data, the run's recorded splits
(RUN/splits/, so `val` is exactly what best.pt was chosen on). A folder without splits is evaluated whole. The
images go through the checkpoint's resize rule only (no augmentation); the detections (torchvision's decoding and
NMS, score threshold 0.001, up to 300 per image) are mapped back to each image's pixels and scored by COCOeval.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgekit import contracts
from edgekit.data.detection import Box, DetectionImage
from edgekit.detection_metrics import MapReport
from edgekit.errors import EdgekitError
from edgekit.fileio import atomic_write_text, writable_folder
from edgekit.progress import OnProgress, Reporter, reporter
from edgekit.rundir import RunDir


@dataclass
class DetectionEvalResult:
    report: MapReport
    document: dict  # what eval.json holds
    model_name: str
    kind: str  # "checkpoint"
    description: str
    json_path: Path
    task: str = "detection"


def checkpoint_task(path: Path) -> str:
    """"detection" or "classification" (checkpoints without the field are classifiers)."""
    from edgekit.checkpoint import read_checkpoint_dict

    data = read_checkpoint_dict(path)
    return str(data.get("task", "classification")) if isinstance(data, dict) else "classification"


def detection_data(checkpoint: Path, data: Path | None, split: str) -> tuple[list[DetectionImage], list[str], str]:
    """(images, the data's classes, description) of the split to evaluate."""
    from edgekit.detector import is_prepared_detection

    if data is None:
        run = RunDir.of_checkpoint(checkpoint)
        if not (run.splits_dir / "classes.txt").is_file():
            raise EdgekitError(f"{checkpoint}: no recorded splits beside it ({run.splits_dir}); pass --data DIR")
        data = run.splits_dir
    data = Path(data)
    from edgekit.data.detection import read_detection, read_prepared_detection

    dataset = read_prepared_detection(data) if is_prepared_detection(data) else read_detection(data)
    if any(image.split for image in dataset.images):
        images = dataset.images if split == "all" else dataset.split(split)
        what = split
    else:
        images, what = dataset.images, "all images: the folder has no splits"
    if not images:
        raise EdgekitError(f"the {split} split of {data} is empty")
    return images, list(dataset.classes), f"{data} ({what}, {len(images)} images)"


def evaluation_images(checkpoint: Path | None, options, labels: list[str]) -> tuple[list[DetectionImage], str]:
    """(images, description) that `edgekit eval` scores: --data's (else the run's) --split, a seeded sample of
    --max-images of them, their classes mapped onto the model's `labels`."""
    from edgekit.images import seeded_sample

    images, data_classes, description = detection_data(checkpoint, options.data, options.split)
    if options.max_images is not None and options.max_images < len(images):
        images = seeded_sample(images, options.max_images)
        description = f"{description}, a seeded sample of {options.max_images}"
    return align_boxes(images, data_classes, labels), description


def align_boxes(images: list[DetectionImage], data_classes: list[str], labels: list[str]) -> list[DetectionImage]:
    """The data's class indices mapped onto the model's by name; a class the model does not know is an error."""
    unknown = [c for c in data_classes if c not in labels]
    if unknown:
        raise EdgekitError(f"the data has class(es) the model does not know: {', '.join(unknown[:5])}; "
                           f"the model's classes: {', '.join(labels[:10])}")
    mapping = {i: labels.index(c) for i, c in enumerate(data_classes)}
    return [DetectionImage(i.path, i.name, i.split, i.width, i.height,
                           [Box(mapping[b.label], b.x, b.y, b.width, b.height) for b in i.boxes], i.source)
            for i in images]


def evaluate_detection(options, on_progress: OnProgress | Reporter | None = None) -> DetectionEvalResult:
    """`options`: edgekit.evaluate.EvalOptions (model: a detector's checkpoint). Writes eval.json into
    options.out (default eval-<checkpoint name>/ beside it)."""
    import torch

    from edgekit.checkpoint import load_checkpoint
    from edgekit.detection_metrics import coco_map
    from edgekit.detector import DetectionDataset, collate, predict_images

    say = reporter(on_progress)
    path = Path(options.model)
    if path.is_dir():
        return _evaluate_artifact(path, options, say)
    say.stage("opening the model")
    checkpoint = load_checkpoint(path, task="detection")
    images, description = evaluation_images(path, options, checkpoint.labels)
    out = writable_folder(options.out or path.parent / f"eval-{path.stem}", "--out")
    model = checkpoint.build_model()
    loader = torch.utils.data.DataLoader(DetectionDataset(images, checkpoint.preprocessing),
                                         batch_size=options.batch_size, shuffle=False, collate_fn=collate)
    predictions = predict_images(model, loader, images, checkpoint.preprocessing, torch.device("cpu"), on_progress=say)
    say.stage("COCO mAP (pycocotools)")
    report = coco_map(images, checkpoint.labels, predictions)
    document = {"schema": contracts.DETECTION_EVAL, "task": "detection", **report.to_dict(),
                "classes": list(checkpoint.labels), "model": str(path), "model_name": checkpoint.model_name,
                "evaluated": "checkpoint", "data": description,
                "preprocessing": checkpoint.preprocessing.to_dict()}
    json_path = atomic_write_text(out / "eval.json", json.dumps(document, indent=2) + "\n")
    return DetectionEvalResult(report, document, checkpoint.model_name, "checkpoint", description, json_path)


def manifest_task(folder: Path) -> str:
    """An artifact folder's task ("classification" when its manifest does not say); the manifest is validated."""
    from edgekit.manifest import read_manifest

    return str(read_manifest(folder).raw.get("task", "classification"))


def runner_map(runner, images: list[DetectionImage], say: Reporter, post_ms: list | None = None) -> MapReport:
    """COCO mAP of a detector (edgekit.detection_predict.DetectorRunner: a checkpoint's graph or an artifact in its
    runtime) on `images`: each through the exact preprocessing, the graph, NMS by its settings, the resize rule
    undone; one image at a time. `post_ms`, when given, receives each image's NMS time (ms)."""
    import numpy as np

    from edgekit.detection_metrics import coco_map, graph_predictions

    outputs = []
    with say.task(f"running the {runner.kind}", len(images)) as advance:
        for image in images:
            outputs.append(np.asarray(runner.run(runner.preprocessing.load_batch([image.path]))))
            advance()
    outputs = np.stack(outputs).reshape(len(images), runner.num_anchors, -1)
    _, predictions = graph_predictions(outputs, images, runner.preprocessing, runner.settings, post_ms)
    say.stage("COCO mAP (pycocotools)")
    return coco_map(images, runner.labels, predictions)


def _evaluate_artifact(path: Path, options, say: Reporter) -> DetectionEvalResult:
    """An exported detector in its own runtime (manifest and sha256 checked first), scored like its checkpoint."""
    from edgekit.artifacts import open_artifact
    from edgekit.detection_predict import open_detector
    from edgekit.logcapture import captured, read_back

    say.stage("opening the artifact")
    artifact = open_artifact(path)
    if artifact.manifest.raw.get("task") != "detection":
        raise EdgekitError(f"{path} is not an exported detector (its manifest has no task: detection)")
    checkpoint = artifact.manifest.source_checkpoint()
    if options.data is None and checkpoint is None:
        raise EdgekitError(f"{path}: the checkpoint it was exported from is not there to name its data; pass --data DIR")
    images, description = evaluation_images(checkpoint, options, artifact.labels)
    out = writable_folder(options.out or path.parent / f"eval-{path.name}", "--out")
    with captured(None) as chatter:
        runner = open_detector(path)
        report = runner_map(runner, images, say)
        log_text = read_back(chatter)
    document = {"schema": contracts.DETECTION_EVAL, "task": "detection", **report.to_dict(),
                "classes": list(artifact.labels), "model": str(path), "model_name": artifact.model,
                "evaluated": runner.kind, "data": description, "preprocessing": artifact.preprocessing.to_dict(),
                "postprocess": runner.settings.to_dict()}
    json_path = atomic_write_text(out / "eval.json", json.dumps(document, indent=2) + "\n")
    if log_text.strip():
        atomic_write_text(out / "eval.log", log_text)
    return DetectionEvalResult(report, document, artifact.model, runner.kind, description, json_path)
