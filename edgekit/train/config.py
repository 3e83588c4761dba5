"""The training options (TrainConfig) and their validation; `--resume` takes the saved run's options.

TrainConfig is the one place the options and their defaults live: `edgekit train` maps its flags
onto these fields and reads its defaults from here.
"""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Literal

from edgekit.errors import EdgekitError
from edgekit.paths import SAMPLE_DATA_DIR
from edgekit.rundir import RunDir

# options that only say where/how fast to run: a resumed run may change them, nothing else
RUNTIME_FIELDS = ("device", "workers", "resume", "compile")


@dataclass
class TrainConfig:
    model: str  # a zoo name, torchvision:NAME or timm:NAME (edgekit.models.architecture.parse_architecture)
    data: str = str(SAMPLE_DATA_DIR)  # raw class folder or a prepared directory
    out: str | None = None  # run directory; default runs/<model>-<timestamp>
    epochs: int = 30
    batch_size: int = 64
    img_size: int | None = None  # default: the model's default_img_size (use 64 for the 28 px samples)
    lr: float = 2e-3
    weight_decay: float = 0.05
    optimizer: Literal["adamw", "sgd"] = "adamw"
    warmup_epochs: float | None = None  # None: edgekit.recipe scales it to the run
    label_smoothing: float = 0.1
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    workers: int | None = None  # DataLoader workers; default 0 on CPU (2 cores), min(8, cores) on CUDA
    amp: bool | None = None  # mixed precision; default on for CUDA
    amp_dtype: Literal["auto", "bf16", "fp16"] = "auto"  # auto: bf16 where the GPU has it, else fp16 (loss scaling)
    channels_last: bool | None = None  # default on for CUDA
    compile: bool = False  # torch.compile the training model
    weights: str | None = None  # transfer learning: a state dict / checkpoint; matching tensors are loaded
    freeze_backbone_epochs: int = 0  # with weights: train only the new head for the first N epochs
    model_options: dict = field(default_factory=dict)
    # None: the task's default, center_crop for a classifier, resize for a detector (never a crop that cuts boxes)
    resize: Literal["center_crop", "letterbox", "resize"] | None = None
    normalization: Literal["dataset", "imagenet"] = "dataset"  # imagenet: for ImageNet-pretrained weights
    crop_scale_min: float | None = None  # RandomResizedCrop's smallest area fraction; None: edgekit.recipe
    hflip: bool | None = None  # random horizontal flips; None: edgekit.recipe (the mirror test) decides
    val_fraction: float = 0.2
    max_train_images: int | None = None  # a seeded, class-balanced subset of the training split
    resume: bool = False  # continue `out`/last.pt

    def to_dict(self) -> dict:
        return asdict(self)


def config_default(name: str):
    """The default of one TrainConfig field (the CLI's flags read theirs from here)."""
    for item in fields(TrainConfig):
        if item.name == name:
            if item.default is not MISSING:
                return item.default
            if item.default_factory is not MISSING:
                return item.default_factory()
            raise KeyError(f"TrainConfig.{name} has no default")
    raise KeyError(f"TrainConfig has no field {name!r}")


def default_run_dir(model: str) -> Path:
    from edgekit.models.architecture import safe_name

    return Path("runs") / f"{safe_name(model.replace(':', '-'))}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def resolve_config(config: TrainConfig) -> TrainConfig:
    """Fill defaults; on --resume take the saved run's config, keeping only the runtime knobs."""
    if config.resume:
        return resumed_config(config)
    if is_detection(config.model):
        return _resolved(config, *detection_sizes(config))
    from edgekit.models.architecture import parse_architecture

    architecture = parse_architecture(config.model)  # unknown model: a clear error before anything is written
    img_size = config.img_size if config.img_size is not None else architecture.default_img_size()  # 0 is refused, not 224
    if img_size < architecture.min_img_size():
        raise EdgekitError(f"{config.model} needs images of at least {architecture.min_img_size()} px, got --img-size {img_size}")
    resize = config.resize or "center_crop"
    check_options(TrainConfig(**{**config.to_dict(), "resize": resize}))
    return _resolved(config, img_size, resize)


def is_detection(model: str) -> bool:
    """A detector (edgekit.models.ssdlite's zoo SSDLites, torchvision:ssdlite320_mobilenet_v3_large): trained by
    edgekit.train.detection's steps inside the same loop."""
    from edgekit.models import list_models

    return model == "torchvision:ssdlite320_mobilenet_v3_large" or model in list_models("detection")


# options of class folders and classifiers that have no meaning for a detector: refused when set
# (a detector normalises with its own mean/std, recorded in the preprocessing; --normalization is not read)
CLASSIFICATION_ONLY = {"crop_scale_min": None, "max_train_images": None, "label_smoothing": 0.1}


def detection_sizes(config: TrainConfig) -> tuple[int, str]:
    from edgekit.models.ssdlite import DETECTION_IMG_SIZE
    from edgekit.preprocess import DETECTION_RESIZE_RULES

    img_size = config.img_size if config.img_size is not None else DETECTION_IMG_SIZE
    if img_size < 64:
        raise EdgekitError(f"{config.model} needs images of at least 64 px, got --img-size {img_size}")
    resize = config.resize or "resize"
    if resize not in DETECTION_RESIZE_RULES:
        raise EdgekitError(f"--resize for a detector is resize or letterbox (a centre crop would cut boxes), got {resize}")
    for name, default in CLASSIFICATION_ONLY.items():
        if getattr(config, name) != default:
            raise EdgekitError(f"--{name.replace('_', '-')} applies to classifiers, not to {config.model}")
    check_options(TrainConfig(**{**config.to_dict(), "resize": "letterbox"}))
    return img_size, resize


def _resolved(config: TrainConfig, img_size: int, resize: str) -> TrainConfig:
    out = config.out or str(default_run_dir(config.model))
    if RunDir(Path(out)).last.exists():
        raise EdgekitError(f"{out} already holds a run (last.pt); use --resume to continue it or another --out")
    if config.weights and not Path(config.weights).is_file():
        raise EdgekitError(f"weights file not found: {config.weights}")
    return TrainConfig(**{**config.to_dict(), "img_size": img_size, "resize": resize, "out": out})


def check_options(config: TrainConfig) -> None:
    checks = [(config.epochs >= 1, "--epochs must be at least 1"), (config.batch_size >= 1, "--batch-size must be at least 1"),
              (config.lr > 0, "--lr must be positive"), (0 < config.val_fraction < 1, "--val-fraction must be between 0 and 1"),
              (0 <= config.label_smoothing < 1, "--label-smoothing must be in [0, 1)"),
              (config.crop_scale_min is None or 0 < config.crop_scale_min <= 1, "--crop-scale-min must be in (0, 1]"),
              (config.warmup_epochs is None or config.warmup_epochs >= 0, "--warmup-epochs must be >= 0"),
              (config.resize in ("center_crop", "letterbox"), "--resize must be center_crop or letterbox"),
              (config.normalization in ("dataset", "imagenet"), "--normalization must be dataset or imagenet"),
              (config.amp_dtype in ("auto", "bf16", "fp16"), "--amp-dtype must be auto, bf16 or fp16"),
              (config.weight_decay >= 0, f"--weight-decay must be at least 0, got {config.weight_decay}"),
              (config.seed >= 0, f"--seed must be at least 0, got {config.seed}"),
              (config.max_train_images is None or config.max_train_images >= 1,
               f"--max-train-images must be at least 1, got {config.max_train_images}"),
              (config.freeze_backbone_epochs >= 0, f"--freeze-backbone-epochs must be at least 0, got {config.freeze_backbone_epochs}"),
              (config.freeze_backbone_epochs == 0 or config.weights, "--freeze-backbone-epochs needs --weights")]
    for ok, message in checks:
        if not ok:
            raise EdgekitError(message)


def resumed_config(config: TrainConfig) -> TrainConfig:
    if not config.out:
        raise EdgekitError("--resume needs --out RUN_DIR: the run to continue")
    run = RunDir(Path(config.out))
    if not run.last.is_file() or not run.has_config():
        raise EdgekitError(f"cannot resume: {run.last} not found (was the run started there?)")
    saved = run.train_config()
    if saved["model"] != config.model:
        raise EdgekitError(f"cannot resume: {run.path} trains {saved['model']}, not {config.model}")
    known = {f.name for f in fields(TrainConfig)}
    merged = {k: v for k, v in saved.items() if k in known}
    merged.update({k: getattr(config, k) for k in RUNTIME_FIELDS})
    merged["out"] = str(run.path)
    return TrainConfig(**merged)
