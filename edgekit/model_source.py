"""Where a model comes from: one `ModelSource`, resolved once, that export, train, eval/quantize (through
checkpoints), bench's eager baseline and the manifest all use.

    what the user names               kind         weights                                       carries
    mobilenet_v2                      zoo          --checkpoint, --weights FILE, the ImageNet    (checkpoint: labels and
                                                   weights in torch's cache, else random         preprocessing)
    torchvision:mobilenet_v3_small    torchvision  --weights FILE (a state dict; torchvision's   torchvision's own weights:
                                                   own .pth is recognised by the hash in its     ImageNet labels and
                                                   file name), the cached ImageNet weights,      preprocessing
                                                   else random
    timm:mobilenetv3_small_100        timm         --weights FILE (a state dict or .safetensors), preprocessing (timm's
                                                   else random (nothing is downloaded)           pretrained_cfg)
    model.pt2                         program      its own (torch.export.save)                   its input size
    ExportOptions(model=nn.Module)    module       its own                                       nothing
    --checkpoint RUN/best.pt          checkpoint   the checkpoint, of a zoo, torchvision: or     labels, preprocessing
                                                   timm: architecture

    resolve_source(model, ...) -> ModelSource  the model built once with its weights, what it carries, and the
                                               plain-JSON record (`to_dict`) the manifest keeps as `source`
    latency_model(record, ...) -> nn.Module    bench's eager baseline rebuilt in a worker process from that record

The architectures themselves (zoo, torchvision:, timm: names, their builders and published preprocessing) are
`edgekit.models.architecture`; loading and checking a torch.export program is `edgekit.models.program`. The
export folder and the manifest's `model` use the source's `folder_name` (a name safe on every file system, see
`edgekit.models.architecture`).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.models.architecture import (DEFAULT_NUM_CLASSES, PREFIXES, Architecture, Published, head_classes,
                                         parse_architecture, safe_name, torchvision_default_weights,
                                         torchvision_weights_entries)
from edgekit.models.program import load_program, program_module
from edgekit.preprocess import Preprocessing

SOURCE_KINDS = ("zoo", "torchvision", "timm", "program", "module", "checkpoint")
PROGRAM_SUFFIXES = (".pt2",)
MODEL_FILE_SUFFIXES = (".pt2", ".pt", ".pth", ".bin", ".safetensors", ".ep", ".ckpt")
PREPROCESSING_FLAGS = {"img_size": "--img-size N", "mean": "--mean R,G,B", "std": "--std R,G,B"}


# ----------------------------------------------------------------------------- the resolved source


@dataclass
class ModelSource:
    """A model with its weights, built once, and the facts that travel with it."""

    kind: str  # one of SOURCE_KINDS
    name: str  # what the user named: a zoo name, torchvision:NAME, timm:NAME, a file's name, a module's class
    model: nn.Module  # eval mode, weights loaded
    weights: dict | str  # the manifest's `weights`: "random" or {source: checkpoint | weights file | pretrained | ...}
    weights_kind: str  # checkpoint | weights file | pretrained | random | program | module
    folder_name: str  # the export folder and the manifest's `model`
    architecture: Architecture | None = None
    file: Path | None = None  # the file it came from (checkpoint, weights, program)
    sha256: str | None = None
    num_classes: int | None = None
    model_options: dict = field(default_factory=dict)
    labels: list[str] | None = None  # carried labels
    preprocessing: Preprocessing | None = None  # carried preprocessing
    preprocessing_from: str | None = None  # where the carried preprocessing comes from
    preprocessing_fixed: bool = False  # a checkpoint's: flags that disagree are an error (others: defaults)
    published: Published | None = None  # the publisher's own preprocessing (timm, torchvision), recorded
    input_size: int | None = None  # a program's static H = W
    batch: int | None = None  # a program's static batch (1), None where free
    notes: list[str] = field(default_factory=list)  # said once as warnings and recorded
    why_random: str = ""
    module_class: str | None = None
    program: object = None  # the torch.export program of a module, kept to be saved beside the export
    program_file: str | None = None  # module: the program's name inside the export folder once saved
    task: str = "classification"  # "detection": `model` is an edgekit.detector.DetectorGraph
    detection: dict | None = None  # a detector's: num_anchors and its NMS settings (edgekit.detection_post)

    @property
    def random_weights(self) -> bool:
        return self.weights_kind == "random"

    @property
    def brought(self) -> bool:
        """Not an edgekit zoo architecture: labels and preprocessing come from the source or the flags."""
        return not (self.architecture is not None and self.architecture.kind == "zoo")

    def describe(self) -> str:
        return {"program": f"the program {self.name}", "module": f"the module {self.name}"}.get(self.kind, self.name)

    def to_dict(self) -> dict:
        """The manifest's `source` (plain JSON): enough to rebuild the architecture or reload the program."""
        record = {"kind": self.kind, "name": self.name,
                  "file": str(self.file.resolve()) if self.file else None, "sha256": self.sha256,
                  "architecture": self.architecture.spec if self.architecture else None,
                  "builder": (self.architecture.builder if self.architecture
                              else "torch.export.load" if self.kind in ("program", "module") else None),
                  "num_classes": self.num_classes, "model_options": dict(self.model_options),
                  "carries": {"labels": self.labels is not None, "preprocessing": self.preprocessing is not None},
                  "preprocessing_from": self.preprocessing_from,
                  "versions": self.architecture.versions() if self.architecture else {"torch": str(torch.__version__)}}
        if self.published is not None:
            record["published_preprocessing"] = self.published.to_dict()
        if self.notes:
            record["notes"] = list(self.notes)
        if self.module_class:
            record["class"] = self.module_class
        if self.program_file:
            record["program"] = self.program_file
        return record


def resolve_source(model, *, checkpoint: str | Path | None = None, weights: str | Path | None = None,
                   num_classes: int | None = None, model_options: dict | None = None, pretrained: bool = True,
                   download: bool = False) -> ModelSource:
    """`model` (a zoo name, torchvision:NAME, timm:NAME, a .pt2 file, or an nn.Module) with its weights; every
    problem is one EdgekitError before anything is written."""
    options = dict(model_options or {})
    if checkpoint and weights:
        raise EdgekitError("give --checkpoint or --weights, not both")
    if isinstance(model, nn.Module):
        if checkpoint or weights:
            raise EdgekitError("an nn.Module carries its own weights: leave checkpoint and weights out")
        return _module_source(model)
    if not isinstance(model, (str, Path)) or not str(model).strip():
        raise EdgekitError(f"model must be a name (mobilenet_v2, torchvision:NAME, timm:NAME), a .pt2 file or an "
                           f"nn.Module, got {type(model).__name__}")
    text = str(model).strip()
    if checkpoint:
        return _checkpoint_source(text, Path(checkpoint))
    if not text.startswith(PREFIXES) and not _is_zoo(text):
        path = Path(text)
        if path.is_file():
            if weights:
                raise EdgekitError(f"{text} is a file: a saved program carries its weights; leave --weights out")
            return _file_source(path)
        if path.suffix.lower() in MODEL_FILE_SUFFIXES or "/" in text or "\\" in text:
            raise EdgekitError(f"model file not found: {text}")
    architecture = parse_architecture(text)
    if weights:
        return _weights_source(architecture, Path(weights), num_classes, options)
    return _unweighted_source(architecture, num_classes, options, pretrained, download)


def _is_zoo(name: str) -> bool:
    from edgekit.models import list_models

    return name in list_models()


def _checkpoint_source(text: str, path: Path) -> ModelSource:
    from edgekit.checkpoint import load_checkpoint
    from edgekit.fileio import sha256_file

    loaded = load_checkpoint(path, task=None)
    if text != loaded.model_name:
        raise EdgekitError(f"{path} is a {loaded.model_name} checkpoint, not {text}; "
                           f"run `edgekit export {loaded.model_name} --checkpoint {path}`")
    architecture = Architecture("zoo", loaded.model_name) if loaded.task == "detection" else \
        parse_architecture(loaded.model_name)
    model, detection = loaded.build_model(), None
    if loaded.task == "detection":  # exported as the graph every runtime runs: decoding in, NMS out
        from edgekit.detector import DetectorGraph, postprocess_settings

        settings = postprocess_settings(model)
        model = DetectorGraph(model, loaded.preprocessing.img_size).eval()
        detection = {"num_anchors": int(model.anchors.shape[0]), "postprocess": settings.to_dict()}
    return ModelSource(kind="checkpoint", task=loaded.task, detection=detection, name=loaded.model_name, model=model,
                       weights={"source": "checkpoint", "path": str(path.resolve()), "sha256": sha256_file(path),
                                "val_acc": loaded.meta.get("val_acc")},
                       weights_kind="checkpoint", folder_name=architecture.folder_name, architecture=architecture,
                       file=path, sha256=sha256_file(path), num_classes=loaded.num_classes,
                       model_options=dict(loaded.model_options), labels=list(loaded.labels),
                       preprocessing=loaded.preprocessing, preprocessing_from="the checkpoint",
                       preprocessing_fixed=True)


def _weights_source(architecture: Architecture, path: Path, num_classes: int | None, options: dict) -> ModelSource:
    from edgekit.weightfile import load_state_dict_checked, read_state_dict
    from edgekit.fileio import sha256_file

    state = read_state_dict(path)
    classes = num_classes or head_classes(architecture, state, options) or DEFAULT_NUM_CLASSES
    model = architecture.build(classes, **options)
    load_state_dict_checked(model, state, source=str(path))
    digest = sha256_file(path)
    source = ModelSource(kind=architecture.kind, name=architecture.spec, model=model.eval(),
                         weights={"source": "weights file", "path": str(path.resolve()), "sha256": digest},
                         weights_kind="weights file", folder_name=architecture.folder_name, architecture=architecture,
                         file=path, sha256=digest, num_classes=classes, model_options=options)
    if architecture.kind == "torchvision":
        entry = _torchvision_entry_of(architecture.name, digest)
        if entry is not None and classes == len(entry.meta["categories"]):
            # torchvision's own file (its name's hash prefix is this file's sha256): its labels and preprocessing
            source.weights = {"source": "pretrained", "weights": f"{type(entry).__name__}.{entry.name}",
                              "path": str(path.resolve()), "sha256": digest}
            source.weights_kind = "pretrained"
            source.labels = list(entry.meta["categories"])
            _carry_published(source, architecture.published(entry))
    elif architecture.kind == "timm":
        _carry_published(source, architecture.published())
    return source


def _unweighted_source(architecture: Architecture, num_classes: int | None, options: dict, pretrained: bool,
                       download: bool) -> ModelSource:
    """No checkpoint, no weights file: the ImageNet weights in torch's cache where published, else random."""
    classes = num_classes or DEFAULT_NUM_CLASSES
    model = architecture.build(classes, **options)
    source = ModelSource(kind=architecture.kind, name=architecture.spec, model=model, weights="random",
                         weights_kind="random", folder_name=architecture.folder_name, architecture=architecture,
                         num_classes=classes, model_options=options)
    why = "pretrained weights not asked for"
    if architecture.kind == "timm":
        why = "timm's weights are not read from any cache: pass --weights FILE"
    elif pretrained and classes != DEFAULT_NUM_CLASSES:
        why = f"ImageNet weights have 1000 classes, not {classes}"
    elif pretrained:
        from edgekit.models.pretrained import find_cached, find_pretrained

        if architecture.kind == "zoo":
            found, why = find_pretrained(architecture.name, download=download)
        else:
            entry = torchvision_default_weights(architecture.name)
            found, why = (find_cached(entry, download) if entry is not None
                          else (None, f"torchvision publishes no weights for {architecture.name}"))
        if found is not None:
            from edgekit.weightfile import load_state_dict_checked

            load_state_dict_checked(model, found.state_dict, source=str(found.path))
            source.weights = {"source": "pretrained", "weights": found.weights_name, "path": str(found.path),
                              "sha256": found.sha256}
            source.weights_kind, source.file, source.sha256 = "pretrained", found.path, found.sha256
            source.labels = list(found.categories)
            if architecture.kind == "torchvision":
                _carry_published(source, architecture.published(entry))
            return source
    source.why_random = why
    if architecture.kind != "zoo":  # the architecture's published preprocessing, for a latency run
        _carry_published(source, architecture.published())
    return source


def _carry_published(source: ModelSource, published: Published | None) -> None:
    if published is None:
        return
    source.published = published
    source.preprocessing, notes = published.contract()
    source.preprocessing_from = published.where
    source.notes.extend(notes)


def _torchvision_entry_of(name: str, digest: str):
    """The torchvision weights entry whose file this is: torchvision names each file `<stem>-<first hex digits of
    its sha256>.pth`."""
    for entry in torchvision_weights_entries(name):
        prefix = Path(entry.url).stem.rsplit("-", 1)[-1]
        if len(prefix) >= 8 and re.fullmatch(r"[0-9a-f]+", prefix) and digest.startswith(prefix):
            return entry
    return None


# ----------------------------------------------------------------------------- programs and modules


def _module_source(module: nn.Module) -> ModelSource:
    try:
        model = copy.deepcopy(module)  # the caller's module keeps its mode and weights untouched
    except Exception:
        model = module
    cls = type(module)
    return ModelSource(kind="module", name=cls.__name__, model=model.eval(), weights={"source": "module"},
                       weights_kind="module", folder_name=safe_name(cls.__name__),
                       module_class=f"{cls.__module__}.{cls.__qualname__}")


def _file_source(path: Path) -> ModelSource:
    """A file named as the model: a torch.export program, or (said clearly) an edgekit checkpoint or a state dict."""
    from edgekit.fileio import sha256_file

    program = load_program(path)
    model, batch, size = program_module(program, path)
    digest = sha256_file(path)
    return ModelSource(kind="program", name=path.name, model=model,
                       weights={"source": "program", "path": str(path.resolve()), "sha256": digest},
                       weights_kind="program", folder_name=safe_name(path.stem), file=path, sha256=digest,
                       input_size=size, batch=batch,
                       preprocessing_from="the program's input shape (size only)" if size else None)


# ----------------------------------------------------------------------------- bench: rebuilt from the record


def latency_model(record: dict, num_classes: int, export_dir: Path | None = None) -> nn.Module:
    """The eager fp32 model for bench's baseline, rebuilt in a worker process from a manifest's `source` record:
    the architecture (its weights do not change latency), or the program's copy inside the export folder
    (source.pt2: a program or module export keeps one; sha256 checked; loaded through edgekit.safeload). Never a
    file the record names outside the folder. An EdgekitError says why not."""
    from edgekit.safeload import recorded_program

    kind = record.get("kind")
    options = record.get("model_options") if isinstance(record.get("model_options"), dict) else {}
    if isinstance(record.get("architecture"), str):
        return parse_architecture(record["architecture"]).build(int(record.get("num_classes") or num_classes), **options)
    if kind in ("program", "module"):
        path = recorded_program(record, export_dir)  # inside the export folder, its sha256 the record's
        return program_module(load_program(path), path)[0]  # the archive checked: nothing but tensors unpickled
    raise EdgekitError(f"the manifest's source kind {kind!r} cannot be rebuilt for the eager baseline")
