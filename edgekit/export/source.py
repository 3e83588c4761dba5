"""The model to export, its weights and the data that goes with them.

The model comes from one `edgekit.model_source.ModelSource` (a zoo name, torchvision:NAME, timm:NAME, a .pt2
program, an nn.Module, or a checkpoint of any of the first three), resolved once. Here export decides what the
source does not carry, and checks it before anything is written:

    preprocessing  the checkpoint's (flags that disagree are an error); else --img-size/--mean/--std/--resize
                   over what the source publishes (timm's pretrained_cfg, torchvision's weights, a program's input
                   size); a zoo architecture without checkpoint keeps its defaults (its size, ImageNet's
                   normalisation); any other source without them names the missing flags
    labels         --labels FILE (or a list); else what the source carries (a checkpoint's, torchvision's ImageNet
                   categories); else, for a brought model, the class folders of --val; else class_0 ... class_N-1
    checks         the model's output on one image is one [1, classes] tensor; labels give one name per class;
                   torch.export captures a brought model (every converter but TorchScript starts there)

    weights kind   checkpoint    calibration on a seeded sample of the run's own training split
                   weights file, program, module   calibration on --calib (the shipped calibration/ set otherwise,
                                 said as a warning: it is not the model's data)
                   pretrained    ImageNet weights (the cache or torchvision's own file): ImageNet labels; calibration
                                 and labelled parity on the shipped photographs (samples/imagenet-photos)
                   random        random weights for latency work; fp16/int8 parity is not judged
"""
from __future__ import annotations

import io

from dataclasses import dataclass, field
from pathlib import Path

import torch

from edgekit.errors import EdgekitError
from edgekit.export.options import ExportOptions
from edgekit.models.architecture import DEFAULT_NUM_CLASSES, safe_name
from edgekit.models.program import capture, output_classes
from edgekit.model_source import ModelSource, resolve_source
from edgekit.preprocess import Preprocessing, resolve_preprocessing

RANDOM_WEIGHTS_WARNING = ("no checkpoint and no ImageNet weights found: exporting RANDOM weights for latency work "
                          "(fp16/int8 parity not judged, the artifacts predict nothing useful). For a useful model: "
                          "edgekit train DATA --out RUN, then edgekit export MODEL --checkpoint RUN/best.pt")
PHOTOS_NOTE = ("int8 calibrated and checked on 20 shipped ImageNet photographs: weak evidence; "
               "pass --calib and --val with your own images for a trustworthy int8")
PROGRAM_NAME = "source.pt2"  # a module export keeps its program here, in OUT/<name>/, for bench's eager baseline
REFERENCE_BATCH = 32


@dataclass
class Source:
    """The model to export and the facts that travel with it."""

    model: torch.nn.Module
    labels: list[str]
    preprocessing: Preprocessing
    weights: dict | str  # "random" or {"source": "checkpoint" | "weights file" | "pretrained" | "program" | "module", ...}
    checkpoint: Path | None
    kind: str = "random"  # the weights' kind: checkpoint | weights file | pretrained | program | module | random
    why_random: str = ""  # why no ImageNet weights were used (random only)
    name: str = ""  # the export folder and the manifest's `model`
    origin: ModelSource | None = None
    reference_batch: int = REFERENCE_BATCH  # a program saved with a static batch of 1 is run one image at a time
    notes: list[str] = field(default_factory=list)  # said once as warnings

    @property
    def task(self) -> str:
        return self.origin.task if self.origin is not None else "classification"

    @property
    def random_weights(self) -> bool:
        return self.kind == "random"

    @property
    def record(self) -> dict | None:
        """The manifest's and summary's `source`."""
        return self.origin.to_dict() if self.origin is not None else None


def load_source(options: ExportOptions) -> Source:
    """Resolve, build and check the model; an EdgekitError for anything the flags must say or the model gets wrong."""
    origin = resolve_source(options.model, checkpoint=options.checkpoint, weights=options.weights,
                            num_classes=options.num_classes, pretrained=options.pretrained,
                            download=options.download_weights)
    what = origin.describe()
    preprocessing = choose_preprocessing(origin, options)
    notes = list(origin.notes)
    if origin.task == "detection":  # a detector's checkpoint: its classes, one output of boxes and scores
        return _detector_source(origin, options, preprocessing, notes)
    classes = output_classes(origin.model, preprocessing.img_size, what)
    origin.num_classes = classes
    labels = choose_labels(origin, options, classes, notes)
    if origin.batch == 1 and options.dynamic_batch:
        raise EdgekitError(f"--dynamic-batch: {what} was saved with a static batch of 1; save it with a free batch "
                           "dimension (torch.export.Dim) or leave --dynamic-batch out")
    if origin.kind == "program" and options.keep_float:
        raise EdgekitError(f"--keep-float names modules; {what} is a graph whose modules edgekit cannot quantize "
                           "selectively: export from the architecture (torchvision:NAME, timm:NAME or the module "
                           "in Python) to keep layers in float")
    if origin.brought and origin.kind not in ("program", "checkpoint"):
        origin.program = capture(origin.model, preprocessing.img_size, what)
    return Source(model=origin.model, labels=labels, preprocessing=preprocessing, weights=origin.weights,
                  checkpoint=origin.file if origin.kind == "checkpoint" else None, kind=origin.weights_kind,
                  why_random=origin.why_random, name=_name(origin, options), origin=origin,
                  reference_batch=1 if origin.batch == 1 else REFERENCE_BATCH, notes=notes)


def _detector_source(origin: ModelSource, options: ExportOptions, preprocessing: Preprocessing,
                     notes: list[str]) -> Source:
    """A detector's checkpoint: labels are its object classes (background excluded); its graph is
    edgekit.detector.DetectorGraph (layout: edgekit.detection_post)."""
    if options.dynamic_batch:
        raise EdgekitError("--dynamic-batch is not built for detectors yet (docs/detection.md)")
    labels = choose_labels(origin, options, len(origin.labels), notes)  # a checkpoint's, as for a classifier
    return Source(model=origin.model, labels=labels, preprocessing=preprocessing, weights=origin.weights,
                  checkpoint=origin.file, kind=origin.weights_kind, name=_name(origin, options), origin=origin,
                  reference_batch=REFERENCE_BATCH, notes=notes)


def _name(origin: ModelSource, options: ExportOptions) -> str:
    if options.name is None:
        return origin.folder_name
    name = safe_name(options.name)
    if name != options.name:
        raise EdgekitError(f"--name {options.name!r} is not a safe folder name (letters, digits and _.+=@-, starting "
                           f"with a letter or digit); e.g. {name}")
    return name


# ----------------------------------------------------------------------------- preprocessing


def explicit_preprocessing(options: ExportOptions) -> dict:
    """The preprocessing values the caller gave (flags or an edgekit.Preprocessing), by field."""
    flags = {"img_size": options.img_size, "mean": options.mean, "std": options.std, "resize": options.resize}
    given = {key: value for key, value in flags.items() if value is not None}
    if options.preprocessing is not None:
        if given:
            raise EdgekitError(f"give preprocessing or {', '.join('--' + k.replace('_', '-') for k in given)}, not both")
        if not isinstance(options.preprocessing, Preprocessing):
            raise EdgekitError("preprocessing must be an edgekit.Preprocessing(img_size=..., mean=..., std=..., resize=...)")
        pre = options.preprocessing
        return {"img_size": pre.img_size, "mean": pre.mean, "std": pre.std, "resize": pre.resize}
    return given


def choose_preprocessing(origin: ModelSource, options: ExportOptions) -> Preprocessing:
    """The source's preprocessing under edgekit.preprocess.resolve_preprocessing's one precedence."""
    architecture = origin.architecture
    zoo = architecture is not None and architecture.kind == "zoo"
    preprocessing = resolve_preprocessing(
        explicit_preprocessing(options), fixed=origin.preprocessing if origin.preprocessing_fixed else None,
        published=None if zoo else origin.preprocessing, input_size=origin.input_size,
        zoo_size=architecture.default_img_size() if zoo else None, source=origin.describe())
    if origin.preprocessing_fixed:
        if options.num_classes is not None and options.num_classes != origin.num_classes:
            raise EdgekitError(f"--num-classes {options.num_classes} disagrees with the checkpoint's "
                               f"{origin.num_classes} classes")
    elif architecture is not None:
        _check_min_size(architecture, preprocessing.img_size)
    return preprocessing


def _check_min_size(architecture, size: int) -> None:
    minimum = architecture.min_img_size()
    if size < minimum:
        raise EdgekitError(f"input size {size} is below {architecture.spec}'s minimum of {minimum} px")


# ----------------------------------------------------------------------------- labels


def choose_labels(origin: ModelSource, options: ExportOptions, classes: int, notes: list[str]) -> list[str]:
    from edgekit.manifest import read_labels_input
    from edgekit.manifest_schema import LINE_BREAKS, MAX_LABEL_LENGTH

    if options.labels is not None:
        if isinstance(options.labels, (str, Path)):
            path = Path(options.labels)
            if not path.is_file():
                raise EdgekitError(f"--labels {path}: not a file (one class name per line, the model's output order)")
            (labels, duplicates), where = read_labels_input(path), f"--labels {path}"
            notes.extend(duplicates)
        else:
            labels, where = [str(label) for label in options.labels], "labels"
            if len(set(labels)) != len(labels):
                twice = sorted({label for label in labels if labels.count(label) > 1})
                notes.append(f"labels: {', '.join(map(repr, twice[:3]))} given more than once; predictions of those "
                             "classes cannot be told apart")
        bad = [label for label in labels if not label.strip() or len(label) > MAX_LABEL_LENGTH
               or any(c in label for c in LINE_BREAKS)]
        if bad or not labels:
            raise EdgekitError(f"{where}: every label must be a non-empty one-line name of at most {MAX_LABEL_LENGTH} "
                               f"characters" + (f", got {bad[0][:40]!r}" if bad else ", got none"))
        if origin.preprocessing_fixed and origin.labels is not None and labels != origin.labels:
            raise EdgekitError(f"{where} disagrees with the checkpoint's labels; leave it out (the checkpoint carries "
                               "its classes)")
        if len(labels) != classes:
            raise EdgekitError(f"{where} has {len(labels)} labels, {origin.describe()} gives {classes} scores")
        return labels
    if origin.labels is not None:
        if len(origin.labels) != classes:
            raise EdgekitError(f"{origin.describe()} carries {len(origin.labels)} labels but gives {classes} scores")
        return list(origin.labels)
    generic = [f"class_{i}" for i in range(classes)]
    if not origin.brought:
        return generic
    if options.val is not None:
        from edgekit.image_sets import labelled_images

        found = labelled_images(Path(options.val), what="--val")
        if len(found.classes) != classes:
            raise EdgekitError(f"--val {options.val} has {len(found.classes)} class folders, {origin.describe()} gives "
                               f"{classes} scores: pass --labels FILE (one name per line, in the model's output order)")
        notes.append(f"labels: the class folders of --val {options.val} in sorted order (torchvision ImageFolder's); "
                     "pass --labels FILE if the model's outputs are in another order")
        return list(found.classes)
    if origin.weights_kind != "random":
        notes.append(f"no labels: the manifest names the {classes} classes class_0 ... class_{classes - 1}; pass "
                     "--labels FILE (one name per line) or --val DIR (its class folders)")
    return generic


def imagenet_photo_samples(labels: list[str]):
    """The shipped photographs as (path, class index) with ImageNet's class names, for parity_images."""
    from edgekit.images import IMAGENET_PHOTOS_DIR, imagenet_photos

    return imagenet_photos(), labels, f"the shipped ImageNet photographs ({IMAGENET_PHOTOS_DIR.name})"


def save_program(source: Source, folder: Path) -> None:
    """A module export: its torch.export program as OUT/<name>/source.pt2 (recorded with its sha256), so that
    bench's worker processes can rebuild the eager baseline without the caller's Python code; a program export:
    a copy of its file there (the same sha256)."""
    from edgekit.fileio import atomic_write, sha256_file

    origin = source.origin
    if origin is not None and origin.kind == "program" and origin.file is not None:
        _copy_program(origin, folder / PROGRAM_NAME)
        return
    if origin is None or origin.kind != "module" or origin.program is None:
        return
    path = folder / PROGRAM_NAME
    def write(tmp: Path) -> None:  # through a buffer: torch warns about a file name not ending in .pt2
        buffer = io.BytesIO()
        torch.export.save(origin.program, buffer)
        tmp.write_bytes(buffer.getvalue())

    atomic_write(path, write)
    origin.program_file, origin.sha256 = PROGRAM_NAME, sha256_file(path)
    origin.weights = {"source": "module", "class": origin.module_class, "program": PROGRAM_NAME, "sha256": origin.sha256}
    source.weights = origin.weights


def _copy_program(origin, path: Path) -> None:
    """A program export: the very file loaded (same sha256) copied beside the export, so that bench rebuilds the
    eager baseline from inside the folder and never from a path a manifest names."""
    import shutil

    from edgekit.fileio import atomic_write, sha256_file

    atomic_write(path, lambda tmp: shutil.copyfile(origin.file, tmp))
    if sha256_file(path) != origin.sha256:
        raise EdgekitError(f"{origin.file} changed while it was being exported (sha256): export it again")
    origin.program_file = PROGRAM_NAME


__all__ = ["DEFAULT_NUM_CLASSES", "PHOTOS_NOTE", "RANDOM_WEIGHTS_WARNING", "Source", "load_source",
           "imagenet_photo_samples", "save_program"]
