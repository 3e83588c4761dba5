"""Training: a class folder (or a prepared split) in, a run directory with checkpoints out.

    RUN/best.pt, RUN/last.pt   edgekit checkpoints (best on validation accuracy; last also holds
                               optimizer, scheduler, scaler and RNG states for --resume)
    RUN/config.json            the TrainConfig, the classes and the normalisation
    RUN/labels.txt             class names, index order
    RUN/splits/                the run's train/val(/test) lists as a prepared directory, so
                               `edgekit eval` re-uses exactly this validation split
    RUN/metrics.csv            one row per epoch
    RUN/loss.png, accuracy.png the curves

One process on CPU or one GPU; several GPUs through `torchrun` (DDP, DistributedSampler).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Callable, Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from edgekit import __version__
from edgekit.checkpoint import Checkpoint, atomic_torch_save, read_checkpoint_dict, save_checkpoint
from edgekit.data.datasets import ImageListDataset, train_transform
from edgekit.data.folder import Splits, load_splits, write_split_file
from edgekit.data.stats import compute_mean_std
from edgekit.errors import EdgekitError
from edgekit.models import create_model, get_model_info
from edgekit.paths import SAMPLE_DATA_DIR
from edgekit.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from edgekit.recipe import run_recipe

HEAD_LR_MULT = 10.0  # transfer learning: the new head learns 10x faster than the loaded backbone
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s", "seconds")
# options that only say where/how fast to run: a resumed run may change them, nothing else
RUNTIME_FIELDS = ("device", "workers", "resume", "compile")


@dataclass
class TrainConfig:
    model: str
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
    channels_last: bool | None = None  # default on for CUDA
    compile: bool = False  # torch.compile the training model
    weights: str | None = None  # transfer learning: a state dict / checkpoint; matching tensors are loaded
    freeze_backbone_epochs: int = 0  # with weights: train only the new head for the first N epochs
    model_options: dict = field(default_factory=dict)
    resize: Literal["center_crop", "letterbox"] = "center_crop"
    normalization: Literal["dataset", "imagenet"] = "dataset"  # imagenet: for ImageNet-pretrained weights
    crop_scale_min: float | None = None  # RandomResizedCrop's smallest area fraction; None: edgekit.recipe
    hflip: bool | None = None  # random horizontal flips; None: the mirror test on the training split decides
    val_fraction: float = 0.2
    max_train_images: int | None = None  # a seeded, class-balanced subset of the training split
    resume: bool = False  # continue `out`/last.pt

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_val_acc: float
    history: list[dict]


# ----------------------------------------------------------------------------- devices

@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def dist_info_from_env(env: dict | None = None) -> DistInfo:
    """The torchrun environment (WORLD_SIZE, RANK, LOCAL_RANK); one process when absent."""
    env = os.environ if env is None else env
    return DistInfo(rank=int(env.get("RANK", 0)), world_size=int(env.get("WORLD_SIZE", 1)),
                    local_rank=int(env.get("LOCAL_RANK", 0)))


def select_device(requested: str, dist_info: DistInfo = DistInfo(), cuda_available: bool | None = None) -> torch.device:
    """'auto' picks CUDA when present; under torchrun each process takes its LOCAL_RANK GPU."""
    cuda_available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if requested not in ("auto", "cpu", "cuda"):
        raise EdgekitError(f"unknown device '{requested}': use auto, cpu or cuda")
    if requested == "cuda" and not cuda_available:
        raise EdgekitError("--device cuda asked for, but PyTorch sees no CUDA GPU here; use --device cpu")
    if requested == "cpu" or not cuda_available:
        return torch.device("cpu")
    return torch.device("cuda", dist_info.local_rank)


def autocast_dtype(device: torch.device, amp: bool | None, bf16_supported: bool | None = None) -> torch.dtype | None:
    """Mixed precision only on CUDA: bf16 where the GPU has it (no loss scaling needed), else fp16."""
    if device.type != "cuda" or amp is False:
        return None
    bf16_supported = torch.cuda.is_bf16_supported() if bf16_supported is None else bf16_supported
    return torch.bfloat16 if bf16_supported else torch.float16


def default_workers(device: torch.device, requested: int | None) -> int:
    if requested is not None:
        if requested < 0:
            raise EdgekitError(f"--workers must be >= 0, got {requested}")
        return requested
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0


def init_distributed(dist_info: DistInfo, device: torch.device) -> None:
    if dist_info.enabled and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


@contextmanager
def deterministic(device: torch.device):
    """Deterministic kernels where the backend has them; the caller's setting is restored afterwards."""
    before = torch.are_deterministic_algorithms_enabled()
    benchmark_before = torch.backends.cudnn.benchmark
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True  # speed over bit-exactness on GPUs
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
        torch.backends.cudnn.benchmark = benchmark_before


# ----------------------------------------------------------------------------- model and weights

def load_matching_weights(model: nn.Module, path: Path | str) -> tuple[list[str], list[str]]:
    """Load every tensor whose name and shape match; return (loaded names, names left new).

    The ones left new are typically the classifier head for another class count.
    """
    data = read_checkpoint_dict(path)
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise EdgekitError(f"{path} holds no state dict of tensors")
    own = model.state_dict()
    matching = {k: v for k, v in data.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matching:
        raise EdgekitError(f"no tensor in {path} matches the architecture by name and shape: weights of another model?")
    model.load_state_dict(matching, strict=False)
    return sorted(matching), sorted(k for k in own if k not in matching)


def parameter_groups(model: nn.Module, head_names: set[str], lr: float, weight_decay: float,
                     head_lr_mult: float = HEAD_LR_MULT) -> list[dict]:
    """Backbone / head x decay / no decay (biases and norm weights take no weight decay)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        is_head = name in head_names
        no_decay = param.ndim <= 1
        groups.setdefault((is_head, no_decay), []).append(param)
    return [{"params": params, "lr": lr * (head_lr_mult if is_head else 1.0),
             "weight_decay": 0.0 if no_decay else weight_decay, "is_head": is_head}
            for (is_head, no_decay), params in sorted(groups.items())]


def make_optimizer(name: str, groups: list[dict], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise EdgekitError(f"unknown optimizer '{name}': use adamw or sgd")


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
    """Linear warm-up then cosine decay to zero, stepped once per batch."""
    cosine_steps = max(1, total_steps - warmup_steps)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cosine_steps)
    if warmup_steps <= 0:
        return cosine
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=warmup_steps)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])


def set_backbone_frozen(model: nn.Module, head_names: set[str], frozen: bool) -> None:
    for name, param in model.named_parameters():
        if name not in head_names:
            param.requires_grad_(not frozen)


# ----------------------------------------------------------------------------- data

def subset_per_class(samples: list[tuple[Path, int]], max_images: int, seed: int) -> list[tuple[Path, int]]:
    """A seeded subset keeping the class balance (round-robin over the shuffled classes)."""
    by_class: dict[int, list] = {}
    for sample in sorted(samples):
        by_class.setdefault(sample[1], []).append(sample)
    rng = random.Random(seed)
    for items in by_class.values():
        rng.shuffle(items)
    chosen, round_index = [], 0
    while len(chosen) < max_images and any(round_index < len(v) for v in by_class.values()):
        for label in sorted(by_class):
            if round_index < len(by_class[label]) and len(chosen) < max_images:
                chosen.append(by_class[label][round_index])
        round_index += 1
    return chosen


def check_splits(splits: Splits) -> None:
    if len(splits.classes) < 2:
        raise EdgekitError(f"{splits.root} has {len(splits.classes)} class; a classifier needs at least 2")
    if not splits.train:
        raise EdgekitError(f"the training split of {splits.root} is empty")
    if not splits.val:
        raise EdgekitError(f"the validation split of {splits.root} is empty: too few images per class?")
    trained_labels = {label for _, label in splits.train}
    absent = [name for index, name in enumerate(splits.classes) if index not in trained_labels]
    if absent:
        raise EdgekitError(f"class(es) without training images: {', '.join(absent)}")


def make_loader(dataset, batch_size: int, *, train: bool, seed: int, workers: int, device: torch.device,
                dist_info: DistInfo) -> tuple[DataLoader, torch.Generator]:
    """Seeded sampling: the generator is re-seeded per epoch (see `reseed_epoch`), so a resumed
    run draws the same batches and worker seeds as an uninterrupted one."""
    generator = torch.Generator().manual_seed(seed)
    if dist_info.enabled and train:
        sampler = DistributedSampler(dataset, num_replicas=dist_info.world_size, rank=dist_info.rank,
                                     shuffle=True, seed=seed, drop_last=True)
    elif train:
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                        drop_last=train and len(dataset) > batch_size, generator=generator)
    return loader, generator


def reseed_epoch(loader: DataLoader, generator: torch.Generator, seed: int, epoch: int) -> None:
    generator.manual_seed(seed * 1000 + epoch)
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)


# ----------------------------------------------------------------------------- steps

@dataclass
class StepContext:
    """What one training or evaluation step needs besides the batch."""
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool

    def to_device(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels.to(self.device, non_blocking=True)

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)


def train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, criterion: nn.Module,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, ctx: StepContext) -> tuple[float, int]:
    """One optimisation step; returns (summed loss, correct predictions) of the batch."""
    with ctx.autocast():
        logits = model(images)
        loss = criterion(logits, labels)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    correct = (logits.detach().argmax(dim=1) == labels).sum()
    return loss.detach().float().item() * len(labels), int(correct.item())


@torch.no_grad()
def evaluate_model(model: nn.Module, loader: DataLoader, criterion: nn.Module, ctx: StepContext) -> tuple[float, float]:
    """(mean loss, accuracy) over a loader, model in eval mode."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for images, labels in loader:
        images, labels = ctx.to_device(images, labels)
        with ctx.autocast():
            logits = model(images)
        total_loss += criterion(logits.float(), labels).item() * len(labels)
        correct += int((logits.argmax(dim=1) == labels).sum().item())
        count += len(labels)
    return total_loss / max(count, 1), correct / max(count, 1)


# ----------------------------------------------------------------------------- run directory

def default_run_dir(model: str) -> Path:
    return Path("runs") / f"{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def write_splits(run_dir: Path, splits: Splits) -> None:
    """The run's splits as a prepared directory (load_splits reads it back)."""
    split_dir = run_dir / "splits"
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / "classes.txt").write_text("\n".join(splits.classes) + "\n", encoding="utf-8")
    (split_dir / "source.txt").write_text(str(Path(splits.root).resolve()) + "\n", encoding="utf-8")
    for name in ("train", "val", "test"):
        samples = getattr(splits, name)
        if samples or name != "test":
            write_split_file(split_dir / f"{name}.txt", samples, Path(splits.root))


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(path, buffer.getvalue())


def plot_curves(history: list[dict], run_dir: Path) -> list[Path]:
    """loss.png and accuracy.png: train and validation per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    written = []
    for metric, title in (("loss", "loss"), ("acc", "accuracy")):
        figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
        axes.plot(epochs, [row[f"train_{metric}"] for row in history], marker="o", label="train")
        axes.plot(epochs, [row[f"val_{metric}"] for row in history], marker="o", label="validation")
        axes.set_xlabel("epoch")
        axes.set_ylabel(title)
        axes.set_title(f"{title} per epoch")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = run_dir / f"{title}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": _python_random_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _python_random_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- the run

@dataclass
class RunState:
    """Everything that changes epoch to epoch and is saved in last.pt."""
    epoch: int = 0  # epochs completed
    best_val_acc: float = -1.0
    history: list[dict] = field(default_factory=list)


def resolve_config(config: TrainConfig) -> TrainConfig:
    """Fill defaults; on --resume take the saved run's config, keeping only the runtime knobs."""
    if config.resume:
        if not config.out:
            raise EdgekitError("--resume needs --out RUN_DIR: the run to continue")
        run_dir = Path(config.out)
        if not (run_dir / "last.pt").is_file() or not (run_dir / "config.json").is_file():
            raise EdgekitError(f"cannot resume: {run_dir / 'last.pt'} not found (was the run started there?)")
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["train_config"]
        if saved["model"] != config.model:
            raise EdgekitError(f"cannot resume: {run_dir} trains {saved['model']}, not {config.model}")
        known = {f.name for f in fields(TrainConfig)}
        merged = {k: v for k, v in saved.items() if k in known}
        merged.update({k: getattr(config, k) for k in RUNTIME_FIELDS})
        merged["out"] = str(run_dir)
        return TrainConfig(**merged)
    info = get_model_info(config.model)  # unknown model: a clear error before anything is written
    img_size = config.img_size or info.default_img_size
    if img_size < info.min_img_size:
        raise EdgekitError(f"{config.model} needs images of at least {info.min_img_size} px, got --img-size {img_size}")
    checks = [(config.epochs >= 1, "--epochs must be at least 1"), (config.batch_size >= 1, "--batch-size must be at least 1"),
              (config.lr > 0, "--lr must be positive"), (0 < config.val_fraction < 1, "--val-fraction must be between 0 and 1"),
              (0 <= config.label_smoothing < 1, "--label-smoothing must be in [0, 1)"),
              (config.crop_scale_min is None or 0 < config.crop_scale_min <= 1, "crop_scale_min must be in (0, 1]"),
              (config.warmup_epochs is None or config.warmup_epochs >= 0, "--warmup-epochs must be >= 0"),
              (config.resize in ("center_crop", "letterbox"), "--resize must be center_crop or letterbox"),
              (config.normalization in ("dataset", "imagenet"), "--normalization must be dataset or imagenet"),
              (config.freeze_backbone_epochs == 0 or config.weights, "--freeze-backbone-epochs needs --weights")]
    for ok, message in checks:
        if not ok:
            raise EdgekitError(message)
    out = config.out or str(default_run_dir(config.model))
    if (Path(out) / "last.pt").exists():
        raise EdgekitError(f"{out} already holds a run (last.pt); use --resume to continue it or another --out")
    if config.weights and not Path(config.weights).is_file():
        raise EdgekitError(f"weights file not found: {config.weights}")
    return TrainConfig(**{**config.to_dict(), "img_size": img_size, "out": out})


def train(config: TrainConfig, *, on_epoch_end: Callable[[dict], None] | None = None,
          show_progress: bool = True) -> TrainResult:
    """Train (or resume) a run; `on_epoch_end(row)` is called after each epoch's files are written."""
    config = resolve_config(config)
    dist_info = dist_info_from_env()
    device = select_device(config.device, dist_info)
    run_dir = Path(config.out)
    existed_before = run_dir.exists()
    init_distributed(dist_info, device)
    try:
        with deterministic(device):
            return _run(config, device, dist_info, on_epoch_end, show_progress)
    except BaseException:
        if dist_info.is_main and not config.resume:
            remove_unfinished_run(run_dir, existed_before)
        raise
    finally:
        if dist_info.enabled and dist.is_initialized():
            dist.destroy_process_group()


def remove_unfinished_run(run_dir: Path, existed_before: bool) -> None:
    """A run that failed before its first epoch ended leaves nothing behind (a later one may resume)."""
    import shutil

    if (run_dir / "last.pt").exists() or not run_dir.exists():
        return
    if not existed_before:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in ("config.json", "labels.txt"):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "splits", ignore_errors=True)


def _run(config: TrainConfig, device: torch.device, dist_info: DistInfo,
         on_epoch_end: Callable[[dict], None] | None, show_progress: bool) -> TrainResult:
    run_dir = Path(config.out)
    resume_data = read_checkpoint_dict(run_dir / "last.pt") if config.resume else None
    splits = load_run_splits(config, run_dir)
    torch.manual_seed(config.seed)
    random.seed(config.seed)

    preprocessing = run_preprocessing(config, splits, run_dir, show_progress and dist_info.is_main)
    model = create_model(config.model, num_classes=len(splits.classes), **config.model_options)
    head_names: set[str] = set()
    if config.weights and resume_data is None:
        _, new_names = load_matching_weights(model, config.weights)
        head_names = {n for n, _ in model.named_parameters() if n in set(new_names)}
    elif resume_data is not None:
        head_names = set(resume_data.get("head_names", []))
        model.load_state_dict(resume_data["state_dict"])
    channels_last = config.channels_last if config.channels_last is not None else device.type == "cuda"
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)

    ctx = StepContext(device=device, amp_dtype=autocast_dtype(device, config.amp), channels_last=channels_last)
    workers = default_workers(device, config.workers)
    train_set = ImageListDataset(splits.train, None)  # transform set below, once the recipe knows the steps
    val_set = ImageListDataset(splits.val, preprocessing.eval_transform())
    per_process_batch = max(1, config.batch_size // dist_info.world_size)
    train_loader, generator = make_loader(train_set, per_process_batch, train=True, seed=config.seed,
                                          workers=workers, device=device, dist_info=dist_info)
    val_loader, _ = make_loader(val_set, per_process_batch * 2, train=False, seed=config.seed,
                                workers=workers, device=device, dist_info=DistInfo())

    optimizer = make_optimizer(config.optimizer, parameter_groups(model, head_names, config.lr, config.weight_decay),
                               config.lr, config.weight_decay)
    steps_per_epoch = len(train_loader)
    recipe = run_recipe(config, splits, steps_per_epoch, run_dir / "config.json", record=dist_info.is_main)
    train_set.transform = train_transform(preprocessing, recipe.crop_scale, hflip=recipe.hflip)
    scheduler = make_scheduler(optimizer, steps_per_epoch * config.epochs, recipe.warmup_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=ctx.amp_dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    state = RunState()
    if resume_data is not None:
        optimizer.load_state_dict(resume_data["optimizer"])
        scheduler.load_state_dict(resume_data["scheduler"])
        scaler.load_state_dict(resume_data["scaler"])
        restore_rng_state(resume_data["rng"])
        state = RunState(epoch=int(resume_data["epoch"]), best_val_acc=float(resume_data["best_val_acc"]),
                         history=list(resume_data["history"]))

    train_model = model
    if dist_info.enabled:
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        train_model = torch.compile(train_model)

    labels = list(splits.classes)
    progress = _progress(show_progress and dist_info.is_main)
    with progress:
        for epoch in range(state.epoch, config.epochs):
            frozen = epoch < config.freeze_backbone_epochs
            set_backbone_frozen(model, head_names, frozen)
            reseed_epoch(train_loader, generator, config.seed, epoch)
            row = _train_epoch(train_model, train_loader, criterion, optimizer, scheduler, scaler, ctx, progress,
                               f"epoch {epoch + 1}/{config.epochs}" + (" (backbone frozen)" if frozen else ""))
            if dist_info.enabled:
                dist.barrier()
            if dist_info.is_main:
                val_loss, val_acc = evaluate_model(model, val_loader, criterion, ctx)
                row = {"epoch": epoch + 1, **row, "val_loss": val_loss, "val_acc": val_acc}
                state.history.append(row)
                state.epoch = epoch + 1
                is_best = val_acc > state.best_val_acc
                state.best_val_acc = max(state.best_val_acc, val_acc)
                checkpoint = make_checkpoint(model, config, labels, preprocessing, epoch + 1, val_acc)
                if is_best:
                    save_checkpoint(checkpoint, run_dir / "best.pt")
                save_checkpoint(checkpoint, run_dir / "last.pt", optimizer=optimizer.state_dict(),
                                scheduler=scheduler.state_dict(), scaler=scaler.state_dict(), rng=rng_state(),
                                epoch=state.epoch, best_val_acc=state.best_val_acc, history=state.history,
                                head_names=sorted(head_names))
                write_metrics_csv(run_dir / "metrics.csv", state.history)
                plot_curves(state.history, run_dir)
                if show_progress:
                    progress.console.print(_epoch_line(row, is_best))
                if on_epoch_end is not None:
                    on_epoch_end(row)
            if dist_info.enabled:
                dist.barrier()
    return TrainResult(run_dir=run_dir, best_checkpoint=run_dir / "best.pt", last_checkpoint=run_dir / "last.pt",
                       best_val_acc=state.best_val_acc, history=state.history)


def load_run_splits(config: TrainConfig, run_dir: Path) -> Splits:
    """A resumed run re-reads its own recorded splits; a new run splits the data and records them."""
    if config.resume:
        return load_splits(run_dir / "splits")
    splits = load_splits(config.data, val_fraction=config.val_fraction, seed=config.seed)
    check_splits(splits)
    if config.max_train_images:
        splits.train = subset_per_class(splits.train, config.max_train_images, config.seed)
    if dist_info_from_env().is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_splits(run_dir, splits)
        (run_dir / "labels.txt").write_text("\n".join(splits.classes) + "\n", encoding="utf-8")
    return splits


def run_preprocessing(config: TrainConfig, splits: Splits, run_dir: Path, show_progress: bool) -> Preprocessing:
    """The normalisation: measured on the training split (or ImageNet's), saved in config.json."""
    config_path = run_dir / "config.json"
    if config.resume:
        return Preprocessing.from_dict(json.loads(config_path.read_text(encoding="utf-8"))["preprocessing"])
    if config.normalization == "imagenet":
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        progress = _progress(show_progress)
        with progress:
            task = progress.add_task("normalisation statistics (training split)", total=len(splits.train), stats="")
            mean, std = compute_mean_std([p for p, _ in splits.train], on_image=lambda: progress.advance(task))
    preprocessing = Preprocessing(img_size=config.img_size, mean=tuple(mean), std=tuple(std), resize=config.resize)
    if dist_info_from_env().is_main:
        document = {"train_config": config.to_dict(), "classes": splits.classes,
                    "preprocessing": preprocessing.to_dict(), "edgekit_version": __version__,
                    "split_sizes": {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)}}
        write_text_atomic(config_path, json.dumps(document, indent=2) + "\n")
    return preprocessing


def make_checkpoint(model: nn.Module, config: TrainConfig, labels: list[str], preprocessing: Preprocessing,
                    epoch: int, val_acc: float) -> Checkpoint:
    state_dict = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    meta = {"epoch": epoch, "val_acc": val_acc, "edgekit_version": __version__,
            "train_config": json.dumps(config.to_dict())}
    return Checkpoint(model_name=config.model, num_classes=len(labels), labels=labels, preprocessing=preprocessing,
                      state_dict=state_dict, model_options=dict(config.model_options), meta=meta)


def _train_epoch(model, loader, criterion, optimizer, scheduler, scaler, ctx: StepContext, progress, description: str) -> dict:
    model.train()
    total_loss, correct, count = 0.0, 0, 0
    task = progress.add_task(description, total=len(loader), stats="")
    start = time.perf_counter()
    for images, labels in loader:
        images, labels = ctx.to_device(images, labels)
        batch_loss, batch_correct = train_step(model, images, labels, criterion, optimizer, scaler, ctx)
        scheduler.step()
        total_loss, correct, count = total_loss + batch_loss, correct + batch_correct, count + len(labels)
        elapsed = time.perf_counter() - start
        progress.update(task, advance=1, stats=f"loss {total_loss / count:.3f}  acc {correct / count:.3f}  "
                                               f"{count / max(elapsed, 1e-9):.0f} img/s")
    seconds = time.perf_counter() - start
    progress.remove_task(task)
    if not math.isfinite(total_loss):
        raise EdgekitError("the training loss became NaN/inf: lower --lr (or disable --amp)")
    return {"train_loss": total_loss / max(count, 1), "train_acc": correct / max(count, 1),
            "lr": optimizer.param_groups[0]["lr"], "images_per_s": count / max(seconds, 1e-9), "seconds": seconds}


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[stats]}" if enabled else ""), disable=not enabled, transient=True)


def _epoch_line(row: dict, is_best: bool) -> str:
    return (f"epoch {row['epoch']:>3}  train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}  "
            f"val loss {row['val_loss']:.3f} acc {row['val_acc']:.3f}  {row['images_per_s']:.0f} img/s"
            + ("  [green]best[/]" if is_best else ""))
