"""The run: set everything up, train epoch by epoch, write the run directory through RunDir.

One process on CPU or one GPU; several GPUs through `torchrun` (DDP, DistributedSampler).
Progress and finished epochs are reported as edgekit.progress events; nothing is printed here.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from edgekit.checkpoint import Checkpoint, read_checkpoint_dict, save_checkpoint
from edgekit.data.folder import Splits
from edgekit.data.stats import compute_mean_std
from edgekit.models.architecture import parse_architecture
from edgekit.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from edgekit.rundir import METRIC_COLUMNS, RunDir
from edgekit import detector
from edgekit.train import detection as det
from edgekit.train.config import TrainConfig, is_detection, resolve_config
from edgekit.train.devices import (DistInfo, autocast_dtype, barrier, default_workers, deterministic,
                                   dist_info_from_env, finish_distributed, init_distributed, select_device)
from edgekit.progress import OnProgress, Reporter
from edgekit.train.events import Epoch
from edgekit.train.optim import make_optimizer, make_scheduler, parameter_groups
from edgekit.train.plots import plot_curves
from edgekit.train.sampling import (build_train_transform, datasets, make_loader, new_run_splits, reseed_epoch,
                                    run_recipe)
from edgekit.train.steps import StepContext, evaluate_model, train_epoch
from edgekit.train.weights import new_parameter_names, set_backbone_frozen
from edgekit.version import __version__


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_val_acc: float  # a detector: the best validation mAP@[.5:.95]
    history: list[dict]
    task: str = "classification"


@dataclass
class RunState:
    """Everything that changes epoch to epoch and is saved in last.pt."""
    epoch: int = 0  # epochs completed
    best_val_acc: float = -1.0  # the score "best" is chosen by: top-1, or a detector's mAP@[.5:.95]
    history: list[dict] = field(default_factory=list)


def train(config: TrainConfig, *, on_epoch_end: Callable[[dict], None] | None = None,
          on_progress: OnProgress | None = None, show_progress: bool = True) -> TrainResult:
    """Train (or resume) a run; `on_epoch_end(row)` is called after each epoch's files are written,
    `on_progress(event)` with every edgekit.progress.Progress: tasks, and a "result" event whose data is an
    edgekit.train.Epoch after each epoch. The library prints nothing: `show_progress=False` passes on the
    "result" events only."""
    config = resolve_config(config)
    dist_info = dist_info_from_env()
    device = select_device(config.device, dist_info)
    run = RunDir(Path(config.out))
    existed_before = run.path.exists()
    init_distributed(dist_info, device)
    callback = on_progress if (dist_info.is_main and on_progress is not None) else None
    if callback is not None and not show_progress:
        callback = _epochs_only(callback)
    try:
        with deterministic(device):
            return _run(config, device, dist_info, run, on_epoch_end, Reporter(callback))
    except BaseException:
        if dist_info.is_main and not config.resume:
            run.remove_unfinished(existed_before)
        raise
    finally:
        finish_distributed(dist_info)


def _epochs_only(callback: OnProgress) -> OnProgress:
    return lambda event: callback(event) if event.kind == "result" else None


def _run(config: TrainConfig, device: torch.device, dist_info: DistInfo, run: RunDir,
         on_epoch_end: Callable[[dict], None] | None, reporter: Reporter) -> TrainResult:
    resume_data = read_checkpoint_dict(run.last) if config.resume else None
    detection = is_detection(config.model)  # the task switch: data, step and validation differ, nothing else
    splits = detection_run_splits(config, run, dist_info) if detection else run_splits(config, run, dist_info)
    torch.manual_seed(config.seed)
    random.seed(config.seed)

    if detection:
        architecture = None
        model = detector.build_detector_for(config.model, len(splits.classes), config.img_size)
        preprocessing = detection_preprocessing(config, model, splits, run, dist_info)
        momentum = None
    else:
        preprocessing = run_preprocessing(config, splits, run, dist_info, reporter)
        architecture = parse_architecture(config.model)
        model = architecture.build(len(splits.classes), **config.model_options)
        momentum = raise_batchnorm_momentum(model) if architecture.kind != "zoo" else None
    head_names: set[str] = set()
    if config.weights and resume_data is None:
        head_names = det.backbone_head_names(model, config.weights) if detection else new_parameter_names(model, config.weights)
    elif resume_data is not None:
        head_names = set(resume_data.get("head_names", []))
        model.load_state_dict(resume_data["state_dict"])
    channels_last = config.channels_last if config.channels_last is not None else device.type == "cuda"
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)

    ctx = StepContext(device=device, amp_dtype=autocast_dtype(device, config.amp, prefer=config.amp_dtype), channels_last=channels_last)
    workers = default_workers(device, config.workers)
    if detection:
        train_set = detector.DetectionDataset(splits.train, preprocessing)
        val_set = detector.DetectionDataset(splits.val, preprocessing)
    else:
        train_set, val_set = datasets(splits, preprocessing)
    collate = detector.collate if detection else None
    per_process_batch = max(1, config.batch_size // dist_info.world_size)
    train_loader, generator = make_loader(train_set, per_process_batch, train=True, seed=config.seed,
                                          workers=workers, device=device, dist_info=dist_info, collate_fn=collate)
    val_loader, _ = make_loader(val_set, per_process_batch * 2, train=False, seed=config.seed,
                                workers=workers, device=device, dist_info=DistInfo(), collate_fn=collate)

    optimizer = make_optimizer(config.optimizer, parameter_groups(model, head_names, config.lr, config.weight_decay),
                               config.lr, config.weight_decay)
    steps_per_epoch = len(train_loader)
    if detection:
        recipe, record = detection_recipe(config, steps_per_epoch)
        train_set.augment = det.train_augmentation(preprocessing.mean, hflip=config.hflip is not False)
    else:
        recipe, record = run_recipe(config, splits, steps_per_epoch)  # warm-up, crop and flip scaled to this run
    if momentum:
        record = {**record, "batchnorm_momentum": momentum}
    if dist_info.is_main:
        run.write_recipe(record)
    if not detection:
        train_set.transform = build_train_transform(recipe, preprocessing)
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
    for epoch in range(state.epoch, config.epochs):
        frozen = epoch < config.freeze_backbone_epochs
        set_backbone_frozen(model, head_names, frozen)
        reseed_epoch(train_loader, generator, config.seed, epoch)
        description = f"epoch {epoch + 1}/{config.epochs}" + (" (backbone frozen)" if frozen else "")
        if detection:
            row = det.train_epoch(train_model, train_loader, optimizer, scheduler, scaler, ctx, reporter, description)
        else:
            row = train_epoch(train_model, train_loader, criterion, optimizer, scheduler, scaler, ctx, reporter,
                              description)
        barrier(dist_info)
        if dist_info.is_main:
            if detection:
                report = det.validate(model, val_loader, splits.val, labels, preprocessing, ctx)
                val_acc = report.map  # "best" is chosen by mAP@[.5:.95]
                row = {"epoch": epoch + 1, **row, "val_map": report.map, "val_map50": report.map50}
            else:
                val_loss, val_acc = evaluate_model(model, val_loader, criterion, ctx)
                row = {"epoch": epoch + 1, **row, "val_loss": val_loss, "val_acc": val_acc}
            state.history.append(row)
            state.epoch = epoch + 1
            is_best = val_acc > state.best_val_acc
            state.best_val_acc = max(state.best_val_acc, val_acc)
            checkpoint = make_checkpoint(model, config, labels, preprocessing, epoch + 1, val_acc, architecture,
                                         task="detection" if detection else "classification")
            if is_best:
                save_checkpoint(checkpoint, run.best)
            save_checkpoint(checkpoint, run.last, optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), scaler=scaler.state_dict(), rng=rng_state(),
                            epoch=state.epoch, best_val_acc=state.best_val_acc, history=state.history,
                            head_names=sorted(head_names))
            run.write_metrics(state.history, det.METRIC_COLUMNS if detection else METRIC_COLUMNS)
            if not detection:
                plot_curves(state.history, run.path)
            reporter.result(f"epoch {row['epoch']}/{config.epochs}", Epoch(row=row, is_best=is_best, epochs=config.epochs))
            if on_epoch_end is not None:
                on_epoch_end(row)
        barrier(dist_info)
    return TrainResult(run_dir=run.path, best_checkpoint=run.best, last_checkpoint=run.last,
                       best_val_acc=state.best_val_acc, history=state.history,
                       task="detection" if detection else "classification")


def detection_run_splits(config: TrainConfig, run: RunDir, dist_info: DistInfo) -> "det.DetectionSplits":
    """As run_splits, for boxes: RUN/splits/ is a prepared detection directory (COCO files)."""
    if config.resume:
        return det.read_run_splits(run.splits_dir)
    splits = det.load_detection_splits(config.data, config.val_fraction, config.seed, config.model)
    if dist_info.is_main:
        from edgekit.fileio import writable_folder

        writable_folder(run.path, "--out")
        det.write_detection_splits(run.splits_dir, splits)
        run.write_labels(splits.classes)
    return splits


def detection_preprocessing(config: TrainConfig, model: nn.Module, splits, run: RunDir,
                            dist_info: DistInfo) -> Preprocessing:
    """The detector's own normalisation (its transform's), img_size and resize rule; saved in config.json."""
    if config.resume:
        return run.preprocessing()
    preprocessing = detector.detector_preprocessing(model, config.img_size, config.resize)
    if dist_info.is_main:
        run.write_config({**config.to_dict(), "task": "detection"}, splits.classes, preprocessing, splits)
    return preprocessing


def detection_recipe(config: TrainConfig, steps_per_epoch: int):
    """Warm-up as a classifier's (edgekit.recipe); the augmentation is SSD's, recorded as run."""
    from edgekit.recipe import auto_warmup_steps

    if config.warmup_epochs is not None:
        warmup, source = round(config.warmup_epochs * steps_per_epoch), "user"
    else:
        warmup, source = auto_warmup_steps(config.epochs, steps_per_epoch), "auto"
    augmentation = [a for a in det.AUGMENTATION_RECORD if config.hflip is not False or "Flip" not in a]
    record = {"task": "detection", "warmup_steps": warmup, "warmup_source": source,
              "warmup_epochs": round(warmup / max(1, steps_per_epoch), 4), "augmentation": augmentation,
              "resize": config.resize, "img_size": config.img_size, "steps_per_epoch": steps_per_epoch}
    return DetectionRecipe(warmup_steps=warmup), record


@dataclass
class DetectionRecipe:
    warmup_steps: int


def run_splits(config: TrainConfig, run: RunDir, dist_info: DistInfo) -> Splits:
    """A resumed run re-reads its own recorded splits; a new run splits the data and records them."""
    if config.resume:
        return run.splits()
    splits = new_run_splits(config)
    if dist_info.is_main:
        from edgekit.fileio import writable_folder

        writable_folder(run.path, "--out")  # a read-only or misplaced run directory: one line before training
        run.write_splits(splits)
        run.write_labels(splits.classes)
    return splits


def run_preprocessing(config: TrainConfig, splits: Splits, run: RunDir, dist_info: DistInfo,
                      reporter: Reporter) -> Preprocessing:
    """The normalisation: measured on the training split (or ImageNet's), saved in config.json."""
    if config.resume:
        return run.preprocessing()
    if config.normalization == "imagenet":
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = compute_mean_std([p for p, _ in splits.train], on_progress=reporter)
    preprocessing = Preprocessing(img_size=config.img_size, mean=tuple(mean), std=tuple(std), resize=config.resize)
    if dist_info.is_main:
        run.write_config(config.to_dict(), splits.classes, preprocessing, splits)
    return preprocessing


def make_checkpoint(model: nn.Module, config: TrainConfig, labels: list[str], preprocessing: Preprocessing,
                    epoch: int, val_acc: float, architecture=None, task: str = "classification") -> Checkpoint:
    state_dict = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    meta = {"epoch": epoch, "val_acc": val_acc, "edgekit_version": __version__,
            "train_config": json.dumps(config.to_dict())}
    if task == "detection":
        meta = {"epoch": epoch, "val_map": val_acc, "edgekit_version": __version__,
                "train_config": json.dumps(config.to_dict())}
    source = None
    if architecture is not None and architecture.kind != "zoo":  # a brought architecture: where it came from
        source = {"kind": architecture.kind, "name": architecture.spec, "architecture": architecture.spec,
                  "builder": architecture.builder, "model_options": dict(config.model_options),
                  "versions": architecture.versions(), "initial_weights": _weights_record(config.weights)}
    return Checkpoint(model_name=config.model, num_classes=len(labels), labels=labels, preprocessing=preprocessing,
                      state_dict=state_dict, model_options=dict(config.model_options), meta=meta, source=source,
                      task=task)


BATCHNORM_MOMENTUM = 0.1  # PyTorch's default; torchvision's MobileNetV3 and EfficientNet use 0.01


def raise_batchnorm_momentum(model: nn.Module, momentum: float = BATCHNORM_MOMENTUM) -> dict | None:
    """Batch norms whose running-statistics momentum is below `momentum` get `momentum` (in place).

    torchvision's MobileNetV3 builds its batch norms with momentum 0.01: over a short fine-tune (a few hundred
    steps) the running statistics barely leave their starting values (ImageNet's, or 0/1 for a new model), so
    eval-mode accuracy sits near chance while training accuracy climbs. PyTorch's default 0.1 tracks the data
    within tens of steps. Recorded in the run's recipe; None when nothing was changed."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             and m.momentum is not None and m.momentum < momentum]
    if not norms:
        return None
    before = sorted({float(m.momentum) for m in norms})
    for norm in norms:
        norm.momentum = momentum
    return {"raised_to": momentum, "from": before, "layers": len(norms),
            "why": "short fine-tunes leave running statistics at their start with a momentum of 0.01"}


def _weights_record(weights: str | None) -> dict | None:
    if not weights:
        return None
    from edgekit.fileio import sha256_file

    path = Path(weights)
    return {"path": str(path.resolve()), "sha256": sha256_file(path) if path.is_file() else None}


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
