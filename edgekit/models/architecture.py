"""The buildable architectures: a zoo name, `torchvision:NAME` or `timm:NAME`, what training trains and a
checkpoint records in its `model`.

    parse_architecture(spec) -> Architecture   checked against what exists (zoo, torchvision.models.list_models,
                                               timm.list_models); an EdgekitError naming the nearest names otherwise
    Architecture.build(num_classes, **options) the architecture with fresh weights, through its own builder
    Architecture.published(weights=None)       the publisher's preprocessing (timm's pretrained_cfg, torchvision's
                                               weights entry) and how edgekit's exact contract approximates it
    classifier_name / head_classes             the module holding the class scores; the class count a state dict's
                                               head was trained for

A name with ':' is fine on Linux but not as a Windows folder name: the export folder and the manifest's `model`
use `folder_name` (`torchvision-mobilenet_v3_small`, `timm-mobilenetv3_small_100`; `safe_name` for a program's
file stem or a module's class name), which `edgekit.manifest_schema.SAFE_NAME` accepts. Where a model and its weights
come from (files, modules, checkpoints) is `edgekit.model_source`.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import torch
from torch import nn

from edgekit.errors import EdgekitError
from edgekit.preprocess import CROP_FRACTION, Preprocessing, resized_shorter_side

ARCHITECTURE_KINDS = ("zoo", "torchvision", "timm")
PREFIXES = ("torchvision:", "timm:")
TIMM_REQUIREMENT = "timm==1.0.31"  # the optional extra edgekit[timm], pinned in pyproject.toml and requirements.lock
BROUGHT_MIN_IMG_SIZE = 16  # a brought architecture's own minimum is unknown here: its forward pass is the check
DEFAULT_NUM_CLASSES = 1000


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
    if spec in list_models("detection"):
        raise EdgekitError(f"{spec} is a detector: train it on a COCO or YOLO folder (`edgekit train {spec} --data DIR`)"
                           f" and export its checkpoint (`edgekit export {spec} --checkpoint RUN/best.pt`); quantize "
                           "and bench of a detector's checkpoint are not there yet (docs/detection.md)")
    if spec in list_models():
        return Architecture("zoo", spec)
    zoo = list_models("classification")
    raise EdgekitError(f"unknown model '{spec}'. Known models: {', '.join(zoo)} (nearest: {_nearest(spec, zoo)}); "
                       "or torchvision:NAME, timm:NAME, or a .pt2 file saved with torch.export.save")


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
