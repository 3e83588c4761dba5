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

    parse_architecture(spec) -> Architecture   a buildable architecture (zoo, torchvision:, timm:): what training
                                               trains and a checkpoint records in its `model`
    resolve_source(model, ...) -> ModelSource  the model built once with its weights, what it carries, and the
                                               plain-JSON record (`to_dict`) the manifest keeps as `source`
    latency_model(record, ...) -> nn.Module    bench's eager baseline rebuilt in a worker process from that record

A name with ':' is fine on Linux but not as a Windows folder name: the export folder and the manifest's `model`
use `folder_name` (`torchvision-mobilenet_v3_small`, `timm-mobilenetv3_small_100`, a program's file stem, a
module's class name), which `edgekit.manifest.SAFE_NAME` accepts.
"""
from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.preprocess import CROP_FRACTION, Preprocessing, resized_shorter_side

ARCHITECTURE_KINDS = ("zoo", "torchvision", "timm")
SOURCE_KINDS = ("zoo", "torchvision", "timm", "program", "module", "checkpoint")
PREFIXES = ("torchvision:", "timm:")
TIMM_REQUIREMENT = "timm==1.0.31"  # the optional extra edgekit[timm], pinned in pyproject.toml and requirements.lock
BROUGHT_MIN_IMG_SIZE = 16  # a brought architecture's own minimum is unknown here: its forward pass is the check
DEFAULT_NUM_CLASSES = 1000
PROGRAM_SUFFIXES = (".pt2",)
MODEL_FILE_SUFFIXES = (".pt2", ".pt", ".pth", ".bin", ".safetensors", ".ep", ".ckpt")
IMAGENET_NORMALISATION = "--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225"
PREPROCESSING_FLAGS = {"img_size": "--img-size N", "mean": "--mean R,G,B", "std": "--std R,G,B"}


def first_line(error: BaseException, limit: int = 300) -> str:
    """An exception's first non-empty line, for a one-line message."""
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "") or type(error).__name__
    return text[:limit]


def safe_name(text: str) -> str:
    """`text` as one folder name that is safe on every file system (no ':' or separators): the export folder,
    the manifest's `model` and the app's asset folder are named with it."""
    name = re.sub(r"[^A-Za-z0-9_.+=@-]+", "-", str(text)).strip("-.")
    if not name or not name[0].isalnum():
        name = "model-" + name.lstrip("_.+=@-")
    return name[:100]


# ----------------------------------------------------------------------------- architectures


@dataclass(frozen=True)
class Published:
    """The preprocessing an architecture's publisher states (timm's pretrained_cfg, torchvision's weights)."""

    img_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_fraction: float  # crop size / resize size (timm: crop_pct)
    interpolation: str  # bilinear, bicubic, ...
    crop_mode: str  # center, squash, border (timm)
    where: str  # "timm pretrained_cfg of X", "torchvision X_Weights.Y"

    def contract(self) -> tuple[Preprocessing, list[str]]:
        """edgekit's exact preprocessing for this, and what it approximates (said, recorded, never silent).

        edgekit's contract (docs/manifest.md, what the app reproduces bit for bit) resizes the shorter side to
        round(size / 0.875) with an antialiased triangle (bilinear) filter and crops the centre. A publisher's
        other crop fraction, interpolation or crop mode is approximated by it: parity is measured with edgekit's
        preprocessing on both sides (PyTorch and the artifact), so it is unaffected; accuracy may differ slightly
        from the publisher's own evaluation."""
        pre = Preprocessing(img_size=self.img_size, mean=self.mean, std=self.std)
        differs = []
        resize = round(self.img_size / self.crop_fraction)
        if resize != resized_shorter_side(self.img_size):
            differs.append(f"a centre crop of {self.crop_fraction:g} (resize to {resize}, edgekit: "
                           f"{CROP_FRACTION} -> {resized_shorter_side(self.img_size)})")
        if self.interpolation not in ("bilinear", "triangle"):
            differs.append(f"{self.interpolation} interpolation (edgekit: antialiased triangle, as PIL's bilinear)")
        if self.crop_mode not in ("center", ""):
            differs.append(f"crop mode {self.crop_mode!r} (edgekit: centre crop)")
        if not differs:
            return pre, []
        return pre, [f"{self.where} asks for " + " and ".join(differs) + "; edgekit's exact preprocessing contract "
                     "(what the manifest states and the app reproduces) approximates it. Parity compares PyTorch and "
                     "the artifacts on the same edgekit preprocessing; accuracy may differ slightly from the "
                     "publisher's own evaluation"]

    def to_dict(self) -> dict:
        return {"img_size": self.img_size, "mean": list(self.mean), "std": list(self.std),
                "crop_fraction": self.crop_fraction, "interpolation": self.interpolation,
                "crop_mode": self.crop_mode, "from": self.where}


@dataclass(frozen=True)
class Architecture:
    """A buildable architecture: a zoo name, `torchvision:NAME` or `timm:NAME`."""

    kind: str  # zoo | torchvision | timm
    name: str

    @property
    def spec(self) -> str:
        return self.name if self.kind == "zoo" else f"{self.kind}:{self.name}"

    @property
    def folder_name(self) -> str:
        return self.name if self.kind == "zoo" else safe_name(f"{self.kind}-{self.name}")

    @property
    def builder(self) -> str:
        return {"zoo": "edgekit.models.create_model", "torchvision": "torchvision.models.get_model",
                "timm": "timm.create_model"}[self.kind]

    def build(self, num_classes: int = DEFAULT_NUM_CLASSES, **options) -> nn.Module:
        """The architecture with a head of `num_classes` and fresh weights, in eval mode."""
        from edgekit.models import create_model

        if self.kind == "zoo":
            return create_model(self.name, num_classes=num_classes, **options).eval()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise EdgekitError(f"num_classes must be at least 1, got {num_classes}")
        try:
            if self.kind == "torchvision":
                import torchvision

                model = torchvision.models.get_model(self.name, weights=None, num_classes=num_classes, **options)
            else:
                model = import_timm().create_model(self.name, pretrained=False, num_classes=num_classes, **options)
        except EdgekitError:
            raise
        except Exception as error:  # an option the builder does not take, a value it refuses
            raise EdgekitError(f"cannot build {self.spec}: {type(error).__name__}: {first_line(error)}") from None
        return model.eval()

    def default_img_size(self) -> int:
        from edgekit.models import get_model_info

        if self.kind == "zoo":
            return get_model_info(self.name).default_img_size
        published = self.published()
        return published.img_size if published else 224

    def min_img_size(self) -> int:
        from edgekit.models import get_model_info

        return get_model_info(self.name).min_img_size if self.kind == "zoo" else BROUGHT_MIN_IMG_SIZE

    def published(self, weights=None) -> Published | None:
        """The publisher's preprocessing: timm's pretrained_cfg; torchvision's `weights` entry (default: the
        architecture's DEFAULT weights). None for the zoo (its checkpoints carry their own)."""
        if self.kind == "torchvision":
            entry = weights or torchvision_default_weights(self.name)
            if entry is None:
                return None
            transform = entry.transforms()
            crop, resize = int(transform.crop_size[0]), int(transform.resize_size[0])
            return Published(img_size=crop, mean=tuple(transform.mean), std=tuple(transform.std),
                             crop_fraction=crop / resize, interpolation=transform.interpolation.value,
                             crop_mode="center", where=f"torchvision's {type(entry).__name__}.{entry.name}")
        if self.kind == "timm":
            config = timm_pretrained_cfg(self.name)
            if not config or "input_size" not in config:
                return None
            return Published(img_size=int(config["input_size"][-1]), mean=tuple(config.get("mean", (0.485, 0.456, 0.406))),
                             std=tuple(config.get("std", (0.229, 0.224, 0.225))),
                             crop_fraction=float(config.get("crop_pct", CROP_FRACTION)),
                             interpolation=str(config.get("interpolation", "bilinear")),
                             crop_mode=str(config.get("crop_mode", "center")),
                             where=f"timm's pretrained_cfg of {self.name}")
        return None

    def versions(self) -> dict:
        versions = {"torch": str(torch.__version__)}
        if self.kind == "torchvision":
            import torchvision

            versions["torchvision"] = str(torchvision.__version__)
        elif self.kind == "timm":
            versions["timm"] = str(import_timm().__version__)
        return versions


def import_timm():
    try:
        import timm
    except ImportError:
        raise EdgekitError(f"timm is not installed: pip install 'edgekit[timm]' (it pins {TIMM_REQUIREMENT}) "
                           "to use timm: models") from None
    return timm


def timm_pretrained_cfg(name: str) -> dict:
    """timm's pretrained configuration of `name` (input size, mean/std, crop_pct, interpolation), read without
    downloading anything."""
    timm = import_timm()
    try:
        config = timm.models.get_pretrained_cfg(name, allow_unregistered=True)
    except Exception:
        config = None
    if config is None:
        return {}
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def torchvision_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def torchvision_default_weights(name: str):
    import torchvision

    try:
        return torchvision.models.get_model_weights(name).DEFAULT
    except Exception:  # an architecture without published weights
        return None


def torchvision_weights_entries(name: str) -> list:
    import torchvision

    try:
        return list(torchvision.models.get_model_weights(name))
    except Exception:
        return []


def _nearest(name: str, names: list[str], count: int = 5) -> str:
    close = difflib.get_close_matches(name, names, n=count, cutoff=0.5)
    if not close:
        close = [n for n in names if name.lower()[:4] in n.lower()][:count]
    return ", ".join(close) if close else "none close"


def parse_architecture(spec: str) -> Architecture:
    """A zoo name, `torchvision:NAME` or `timm:NAME[.tag]`, checked against what exists; an EdgekitError naming
    the nearest names otherwise."""
    from edgekit.models import list_models

    spec = str(spec).strip()
    if spec.startswith("torchvision:"):
        name = spec.split(":", 1)[1]
        names = torchvision_names()
        if name not in names:
            raise EdgekitError(f"unknown torchvision classification model '{name}'; nearest: {_nearest(name, names)} "
                               f"({len(names)} in torchvision.models.list_models(module=torchvision.models))")
        return Architecture("torchvision", name)
    if spec.startswith("timm:"):
        name = spec.split(":", 1)[1]
        timm = import_timm()
        base = name.split(".", 1)[0]  # timm names may carry a pretrained tag: mobilenetv3_small_100.lamb_in1k
        names = timm.list_models()
        if base not in names:
            raise EdgekitError(f"unknown timm model '{name}'; nearest: {_nearest(base, names)} "
                               f"(timm {timm.__version__}: timm.list_models())")
        return Architecture("timm", name)
    if spec in list_models():
        return Architecture("zoo", spec)
    zoo = list_models()
    raise EdgekitError(f"unknown model '{spec}'. Known models: {', '.join(zoo)} (nearest: {_nearest(spec, zoo)}); "
                       "or torchvision:NAME, timm:NAME, or a .pt2 file saved with torch.export.save")


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

    loaded = load_checkpoint(path)
    if text != loaded.model_name:
        raise EdgekitError(f"{path} is a {loaded.model_name} checkpoint, not {text}; "
                           f"run `edgekit export {loaded.model_name} --checkpoint {path}`")
    architecture = parse_architecture(loaded.model_name)
    model = loaded.build_model()
    return ModelSource(kind="checkpoint", name=loaded.model_name, model=model,
                       weights={"source": "checkpoint", "path": str(path.resolve()), "sha256": sha256_file(path),
                                "val_acc": loaded.meta.get("val_acc")},
                       weights_kind="checkpoint", folder_name=architecture.folder_name, architecture=architecture,
                       file=path, sha256=sha256_file(path), num_classes=loaded.num_classes,
                       model_options=dict(loaded.model_options), labels=list(loaded.labels),
                       preprocessing=loaded.preprocessing, preprocessing_from="the checkpoint",
                       preprocessing_fixed=True)


def _weights_source(architecture: Architecture, path: Path, num_classes: int | None, options: dict) -> ModelSource:
    from edgekit.checkpoint import load_state_dict_checked, read_state_dict
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
            from edgekit.checkpoint import load_state_dict_checked

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


def classifier_name(architecture: Architecture, model: nn.Module) -> str | None:
    """The module holding the class scores: timm's pretrained_cfg `classifier`, else the last Linear/Conv2d in
    module order (torchvision's and the zoo's heads, SqueezeNet's 1x1 convolution included)."""
    if architecture.kind == "timm":
        name = timm_pretrained_cfg(architecture.name).get("classifier")
        if isinstance(name, str) and isinstance(dict(model.named_modules()).get(name), (nn.Linear, nn.Conv2d)):
            return name
    layers = [name for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return layers[-1] if layers else None


def head_classes(architecture: Architecture, state: dict, options: dict) -> int | None:
    """The class count a state dict's head was trained for (its classifier weight's first dimension)."""
    probe = architecture.build(DEFAULT_NUM_CLASSES, **options)
    name = classifier_name(architecture, probe)
    weight = state.get(f"{name}.weight") if name else None
    return int(weight.shape[0]) if isinstance(weight, torch.Tensor) and weight.dim() in (2, 4) else None


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


def load_program(path: Path):
    """torch.export.load, with one clear line for a file that is something else."""
    try:
        return torch.export.load(str(path))
    except Exception as error:
        raise EdgekitError(_not_a_program(path, error)) from None


def _not_a_program(path: Path, error: BaseException) -> str:
    import zipfile

    from edgekit.checkpoint import CHECKPOINT_FORMAT, read_checkpoint_dict

    what = f"{path} is not a program saved with torch.export.save"
    if not zipfile.is_zipfile(path):
        return f"{what} (not a zip archive: an ONNX, TFLite or other file?)"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        return (f"{what}: it is a TorchScript file. Save the model with "
                "torch.export.save(torch.export.export(model, (torch.randn(1, 3, H, W),)), 'model.pt2')")
    try:
        data = read_checkpoint_dict(path)
    except EdgekitError as refusal:
        return f"{what}; {refusal}"
    if isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT:
        return (f"{path} is an edgekit checkpoint of {data.get('model')}, not a program: "
                f"edgekit export {data.get('model')} --checkpoint {path}")
    if isinstance(data, dict) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return (f"{path} holds a state dict (weights without their architecture), not a program: name the "
                f"architecture, e.g. edgekit export torchvision:NAME --weights {path} (or timm:NAME)")
    return f"{what} ({first_line(error, 160)})"


def program_module(program, path: Path) -> tuple[nn.Module, int | None, int | None]:
    """(module in eval mode, static batch or None, static square input size or None) of an ExportedProgram."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval, move_exported_model_to_eval

    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise EdgekitError(f"the program {path} takes {len(user_inputs)} inputs; edgekit needs one image batch "
                           "[1, 3, H, W]")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_inputs[0])
    value = node.meta.get("val")
    shape = list(getattr(value, "shape", []))
    static = [int(d) if isinstance(d, int) else None for d in shape]
    if len(static) != 4 or static[1] not in (3, None):
        raise EdgekitError(f"the program {path} takes an input of shape {shape}; edgekit needs an RGB image batch "
                           "[1, 3, H, W]")
    if static[0] not in (1, None):
        raise EdgekitError(f"the program {path} was saved with a static batch of {static[0]}; save it with a "
                           "batch-1 example, torch.export.export(model, (torch.randn(1, 3, H, W),)), or a free batch")
    size = static[2] if static[2] is not None and static[2] == static[3] else None
    if static[2] is not None and static[3] is not None and static[2] != static[3]:
        raise EdgekitError(f"the program {path} takes {static[2]}x{static[3]} images; edgekit's preprocessing "
                           "gives square images")
    try:
        module = program.module()
        move_exported_model_to_eval(module)  # a program saved in training mode: batch norm and dropout as in eval
        allow_exported_model_train_eval(module)  # .eval()/.train() on it no longer raise...
        switch_train, switch_eval = module.train, module.eval
        # ...but return None, where nn.Module's return the module (model.eval().to(device))
        module.train = lambda mode=True: (switch_train(mode), module)[1]
        module.eval = lambda: (switch_eval(), module)[1]
    except Exception as error:
        raise EdgekitError(f"the program {path} cannot be loaded as a module: {first_line(error)}") from None
    return module, static[0], size


def capture(model: nn.Module, size: int, what: str):
    """torch.export of the model at [1, 3, size, size]: every converter but TorchScript starts there."""
    try:
        with torch.no_grad():
            return torch.export.export(model, (torch.zeros(1, 3, size, size),))
    except Exception as error:
        raise EdgekitError(f"torch.export cannot capture {what}: {type(error).__name__}: {first_line(error)} "
                           "(edgekit's converters need a graph torch.export can capture: no data-dependent Python "
                           "control flow on tensor values)") from None


def output_classes(model: nn.Module, size: int, what: str) -> int:
    """The model's class count: its output on one [1, 3, size, size] image must be one [1, classes] tensor."""
    try:
        with torch.no_grad():
            output = model(torch.zeros(1, 3, size, size))
    except Exception as error:
        raise EdgekitError(f"{what} fails on a [1, 3, {size}, {size}] input (a wrong --img-size?): "
                           f"{type(error).__name__}: {first_line(error)}") from None
    if not isinstance(output, torch.Tensor):
        raise EdgekitError(f"{what} returns a {type(output).__name__}, not one tensor of logits [1, classes]: wrap it "
                           "so that forward returns the class scores only")
    if output.dim() != 2 or output.shape[0] != 1 or not output.dtype.is_floating_point:
        raise EdgekitError(f"{what} gives an output of shape {list(output.shape)} ({str(output.dtype).replace('torch.', '')}), "
                           "not [1, classes] float logits: a classifier's head is missing or the output is not flattened")
    return int(output.shape[1])


# ----------------------------------------------------------------------------- bench: rebuilt from the record


def latency_model(record: dict, num_classes: int, export_dir: Path | None = None) -> nn.Module:
    """The eager fp32 model for bench's baseline, rebuilt in a worker process from a manifest's `source` record:
    the architecture (its weights do not change latency), the program file when it is still the one exported
    (sha256), or a module's program saved in the export folder. An EdgekitError says why not."""
    from edgekit.fileio import sha256_file

    kind = record.get("kind")
    options = record.get("model_options") if isinstance(record.get("model_options"), dict) else {}
    if isinstance(record.get("architecture"), str):
        return parse_architecture(record["architecture"]).build(int(record.get("num_classes") or num_classes), **options)
    if kind in ("program", "module"):
        if kind == "program":
            path = Path(str(record.get("file") or ""))
        else:
            from edgekit.manifest import inside

            if export_dir is None or not isinstance(record.get("program"), str):
                raise EdgekitError("the module's program is not recorded beside the export")
            path = inside(export_dir, record["program"], "source.program")
        if not path.is_file():
            raise EdgekitError(f"the source program {path} is gone: the eager baseline cannot be rebuilt")
        if record.get("sha256") and sha256_file(path) != record["sha256"]:
            raise EdgekitError(f"the source program {path} changed since export (sha256): not the model exported")
        return program_module(load_program(path), path)[0]
    raise EdgekitError(f"the manifest's source kind {kind!r} cannot be rebuilt for the eager baseline")
