"""`edgekit predict` for a detector: boxes, labels and scores per image, and the image with them drawn.

    result = predict_detections(PredictOptions("runs/det/best.pt", ["photo.jpg"], out="drawn.jpg"))
    result.images[0].boxes, .scores, .labels      # in the image's own pixels, decreasing score, score >= min_score
    result.drawn                                  # the files written (--out)

A checkpoint and an exported detector take the same path, the one every runtime and the app take: the image
through the manifest's (or checkpoint's) exact preprocessing, the graph (edgekit.detector.DetectorGraph: backbone,
heads, box decoding), NMS by edgekit.detection_post.postprocess with the model's settings, the resize rule undone
(edgekit.detection_metrics.graph_predictions). An artifact runs in its own runtime after its manifest and sha256
are checked. `min_score` only hides weak detections from the answer and the drawing (NMS keeps down to the
manifest's score_threshold, 0.001, which is what mAP wants and no person does).

The drawing (torchvision.utils.draw_bounding_boxes) is made for every image before any file is written; a file of
the caller's is never overwritten by it (an --out that names one of the input images is refused).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.progress import OnProgress, Reporter, reporter

DRAWN_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class DetectedImage:
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # N x 4, x1 y1 x2 y2 in the image's pixels
    scores: np.ndarray  # N, decreasing
    labels: list[str]  # N class names

    def to_dict(self) -> dict:
        return {"image": str(self.path), "width": self.width, "height": self.height,
                "detections": [{"label": label, "score": round(float(score), 6),
                                "box": [round(float(v), 2) for v in box]}
                               for box, score, label in zip(self.boxes, self.scores, self.labels)]}


@dataclass
class DetectionPredictResult:
    kind: str  # "checkpoint" or "<format> <precision> artifact"
    model_name: str
    images: list[DetectedImage]
    min_score: float
    drawn: list[Path] = field(default_factory=list)
    task: str = "detection"


@dataclass
class DetectorRunner:
    """A detector ready to run on edgekit's input batches: `run(batch) -> N x A x (4 + K)`."""

    run: object
    labels: list[str]
    preprocessing: object  # edgekit.preprocess.Preprocessing
    settings: object  # edgekit.detection_post.PostprocessSettings
    model_name: str
    kind: str
    num_anchors: int


def open_detector(path: Path) -> DetectorRunner:
    """A detector's checkpoint (its graph in PyTorch) or an exported detector's folder (its own runtime)."""
    from edgekit.detection_post import PostprocessSettings

    path = Path(path)
    if path.is_dir():
        from edgekit.artifacts import open_artifact

        artifact = open_artifact(path)
        if artifact.manifest.raw.get("task") != "detection":
            raise EdgekitError(f"{path} is not an exported detector (its manifest has no task: detection)")
        block = artifact.manifest.raw["detection"]
        return DetectorRunner(artifact.runtime(), list(artifact.labels), artifact.preprocessing,
                              PostprocessSettings.from_dict(block["postprocess"]), artifact.model,
                              f"{artifact.format} {artifact.precision} artifact", int(block["num_anchors"]))
    import torch

    from edgekit.checkpoint import load_checkpoint
    from edgekit.detector import DetectorGraph, postprocess_settings

    loaded = load_checkpoint(path, task=None)
    if loaded.task != "detection":
        raise EdgekitError(f"{path} is a classifier's checkpoint, not a detector's")
    detector = loaded.build_model().eval()
    graph = DetectorGraph(detector, loaded.preprocessing.img_size).eval()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return graph(torch.from_numpy(np.ascontiguousarray(batch))).numpy()

    return DetectorRunner(run, list(loaded.labels), loaded.preprocessing, postprocess_settings(detector),
                          loaded.model_name, "checkpoint", int(graph.anchors.shape[0]))


def detect(runner: DetectorRunner, paths: list[Path], min_score: float = 0.0,
           on_progress: OnProgress | Reporter | None = None) -> list[DetectedImage]:
    """Each image's detections in its own pixels (score >= min_score), one image at a time."""
    from edgekit.data.detection import DetectionImage
    from edgekit.detection_metrics import graph_predictions
    from edgekit.preprocess import load_rgb

    found = []
    with reporter(on_progress).task("detecting", len(paths)) as advance:
        for path in paths:
            width, height = load_rgb(path).size
            output = np.asarray(runner.run(runner.preprocessing.load_batch([path])))
            output = output.reshape(1, runner.num_anchors, -1)
            image = DetectionImage(Path(path), Path(path).name, None, width, height)
            _, (pixels,) = graph_predictions(output, [image], runner.preprocessing, runner.settings)
            keep = pixels.scores >= min_score
            found.append(DetectedImage(Path(path), width, height, pixels.boxes[keep], pixels.scores[keep],
                                       [runner.labels[int(i)] for i in pixels.labels[keep]]))
            advance()
    return found


PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4",
           "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075"]


def draw(found: DetectedImage, classes: list[str]):
    """The image with its boxes, labels and scores drawn (a PIL image); one colour per class."""
    import torch
    from PIL import Image
    from torchvision.utils import draw_bounding_boxes

    from edgekit.preprocess import load_rgb

    pixels = torch.from_numpy(np.asarray(load_rgb(found.path), dtype=np.uint8).copy()).permute(2, 0, 1)
    if len(found.boxes) == 0:
        return Image.fromarray(pixels.permute(1, 2, 0).numpy())
    width = max(1, round(min(found.width, found.height) / 160))
    drawn = draw_bounding_boxes(pixels, torch.as_tensor(found.boxes, dtype=torch.float32),
                                labels=[f"{label} {score:.2f}" for label, score in zip(found.labels, found.scores)],
                                colors=[PALETTE[classes.index(label) % len(PALETTE)] for label in found.labels],
                                width=width)
    return Image.fromarray(drawn.permute(1, 2, 0).numpy())


def drawn_paths(out: Path, images: list[Path]) -> list[Path]:
    """Where each drawing goes: `out` itself for one image when it names a .jpg/.png file, else
    out/<image stem>.jpg; refused (one line) when a target is one of the inputs or two images share a name."""
    out = Path(out)
    if len(images) == 1 and out.suffix.lower() in DRAWN_SUFFIXES:
        targets = [out]
    elif out.suffix.lower() in DRAWN_SUFFIXES:
        raise EdgekitError(f"--out {out} names one file, but {len(images)} images were given: name a folder")
    else:
        targets = [out / f"{Path(p).stem}.jpg" for p in images]
        if len(set(targets)) != len(targets):
            raise EdgekitError("two images have the same file name; their drawings would overwrite each other in "
                               f"{out}: predict them separately")
    inputs = {Path(p).resolve() for p in images}
    for target in targets:
        if target.resolve() in inputs:
            raise EdgekitError(f"--out {target} is one of the input images; edgekit does not overwrite it")
    return targets


def write_drawings(found: list[DetectedImage], classes: list[str], targets: list[Path]) -> list[Path]:
    """Every drawing made first, then written atomically (a failure leaves no half-written file)."""
    from edgekit.fileio import atomic_write, writable_folder

    drawings = [draw(image, classes) for image in found]
    for folder in {t.parent for t in targets}:
        writable_folder(folder, "--out")
    for picture, target in zip(drawings, targets):
        kind = "PNG" if target.suffix.lower() == ".png" else "JPEG"
        atomic_write(target, lambda tmp, picture=picture, kind=kind: picture.save(tmp, format=kind, quality=92))
    return targets


def predict_detections(options, on_progress: OnProgress | Reporter | None = None) -> DetectionPredictResult:
    """`edgekit predict` of a detector (options: edgekit.evaluate_options.PredictOptions); see the module doc."""
    from edgekit.logcapture import captured

    from edgekit.fileio import writable_folder

    say = reporter(on_progress)
    images = list(options.images)
    targets = drawn_paths(options.out, images) if options.out is not None else []
    for folder in sorted({target.parent for target in targets}):  # a folder that cannot be written: before any work
        writable_folder(folder, "--out")
    with captured(None):  # runtimes' chatter (LiteRT's delegate line): predict keeps no log file
        say.stage("opening the model")
        runner = open_detector(options.model)
        found = detect(runner, images, options.min_score, on_progress=say)
    result = DetectionPredictResult(runner.kind, runner.model_name, found, options.min_score)
    if targets:
        say.stage("drawing the boxes")
        result.drawn = write_drawings(found, runner.labels, targets)
    return result
