"""`edgekit train`: a thin layer over edgekit.train (eval and predict live in eval_cmd.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from edgekit.errors import EdgekitError
from edgekit.train.config import TrainConfig, config_default as D

console = Console()
# TrainConfig fields `edgekit train` sets from its flags
TRAIN_FLAGS = ("model", "data", "out", "epochs", "batch_size", "img_size", "lr", "weight_decay", "optimizer",
               "warmup_epochs", "crop_scale_min", "hflip", "label_smoothing", "seed", "device", "workers", "amp", "amp_dtype", "channels_last", "compile",
               "weights", "freeze_backbone_epochs", "model_options", "resize", "normalization", "val_fraction",
               "max_train_images", "resume")


class RichTrainDisplay:
    """Renders training's Progress events: a transient progress bar per task (its running loss beside it), a line
    per finished epoch ("result" events carry an edgekit.train.Epoch) and warnings."""

    def __init__(self, out: Console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[stats]}"), console=out, transient=True)
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "RichTrainDisplay":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, event) -> None:
        if event.kind == "result":  # an edgekit.train.Epoch
            self.progress.console.print(epoch_line(event.data.row, event.data.is_best))
        elif event.kind == "start":
            self.tasks[event.message] = self.progress.add_task(event.message, total=event.total, stats="")
        elif event.kind == "advance" and event.message in self.tasks:
            self.progress.update(self.tasks[event.message], advance=event.steps, stats=event.detail)
        elif event.kind == "finish" and event.message in self.tasks:
            self.progress.remove_task(self.tasks.pop(event.message))
        elif event.kind == "warning":
            self.progress.console.print(f"[bold yellow]warning:[/] {event.message}", highlight=False)


def epoch_line(row: dict, is_best: bool) -> str:
    if "val_map" in row:  # a detector
        return (f"epoch {row['epoch']:>3}  train loss {row['train_loss']:.3f}  val mAP {row['val_map']:.3f} "
                f"mAP@.5 {row['val_map50']:.3f}  {row['images_per_s']:.0f} img/s" + ("  [green]best[/]" if is_best else ""))
    return (f"epoch {row['epoch']:>3}  train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}  "
            f"val loss {row['val_loss']:.3f} acc {row['val_acc']:.3f}  {row['images_per_s']:.0f} img/s"
            + ("  [green]best[/]" if is_best else ""))


def parse_model_options(pairs: list[str]) -> dict:
    """KEY=VALUE pairs; values read as JSON where they parse (numbers, booleans), else as text."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EdgekitError(f"--option expects KEY=VALUE, got '{pair}'")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def train_command(
    model: str = typer.Argument(..., help="Architecture: a zoo name from `edgekit models list` (mobilenet_v2), torchvision:NAME (e.g. torchvision:mobilenet_v3_small) or timm:NAME (needs the timm extra: pip install edgekit\\[timm]); the head is built for the data's classes."),
    data: Path = typer.Option(Path(D("data")), "--data", show_default=False, help="Class-folder directory (one folder of images per class) or a directory from `edgekit data prepare`. Default: the shipped 10-class Fashion-MNIST subset."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory. Default: runs/MODEL-TIME."),
    epochs: int = typer.Option(D("epochs"), "--epochs", help="Number of epochs."),
    batch_size: int = typer.Option(D("batch_size"), "--batch-size", help="Images per optimisation step (summed over GPUs under torchrun)."),
    img_size: Optional[int] = typer.Option(D("img_size"), "--img-size", help="Square input size in pixels. Default: the model's own (224 for most); 64 suits the 28 px samples."),
    lr: float = typer.Option(D("lr"), "--lr", help="Peak learning rate of the backbone (a new head gets 10x)."),
    weight_decay: float = typer.Option(D("weight_decay"), "--weight-decay", help="Weight decay (not applied to biases and norm layers)."),
    optimizer: str = typer.Option(D("optimizer"), "--optimizer", help="adamw or sgd (momentum 0.9, Nesterov)."),
    warmup_epochs: Optional[float] = typer.Option(D("warmup_epochs"), "--warmup-epochs", help="Linear learning-rate warm-up before the cosine decay, in epochs. Default: scaled to the run (5 % of all steps, at most 1 epoch; see edgekit.recipe)."),
    crop_scale_min: Optional[float] = typer.Option(D("crop_scale_min"), "--crop-scale-min", help="Smallest area fraction of the random resized crop, in (0, 1]; 1 means no random crop. Default: scaled to the run (none up to 4 epochs, 0.35 from 12)."),
    hflip: Optional[bool] = typer.Option(D("hflip"), "--hflip/--no-hflip", help="Random horizontal flips. Default: off in runs of 4 epochs or fewer; longer runs: on unless the mirror test on the training split finds mirrored images look like other classes (see `edgekit data audit`)."),
    label_smoothing: float = typer.Option(D("label_smoothing"), "--label-smoothing", help="Label smoothing of the cross-entropy loss."),
    seed: int = typer.Option(D("seed"), "--seed", help="Seed of the split, the initialisation, the sampling and the augmentation."),
    device: str = typer.Option(D("device"), "--device", help="auto (CUDA when present), cpu or cuda."),
    workers: Optional[int] = typer.Option(D("workers"), "--workers", help="Data-loading worker processes. Default: 0 on CPU, up to 8 on CUDA."),
    amp: Optional[bool] = typer.Option(D("amp"), "--amp/--no-amp", help="Mixed precision (bf16, else fp16 with loss scaling). Default: on for CUDA, never on CPU."),
    amp_dtype: str = typer.Option(D("amp_dtype"), "--amp-dtype", help="Mixed-precision type: auto (bf16 where the GPU has it, else fp16), bf16, or fp16 (with loss scaling)."),
    channels_last: Optional[bool] = typer.Option(D("channels_last"), "--channels-last/--no-channels-last", help="channels_last memory format. Default: on for CUDA."),
    compile: bool = typer.Option(D("compile"), "--compile", help="torch.compile the model for training."),
    weights: Optional[Path] = typer.Option(None, "--weights", rich_help_panel="Transfer learning", help="Transfer learning: a state dict (torchvision's own ImageNet .pth, a timm .safetensors), or a checkpoint; every tensor matching by name and shape is loaded, the rest (the head) is new."),
    freeze_backbone_epochs: int = typer.Option(D("freeze_backbone_epochs"), "--freeze-backbone-epochs", rich_help_panel="Transfer learning", help="With --weights: train only the new head for the first N epochs."),
    option: list[str] = typer.Option([], "--option", help="Model option KEY=VALUE (repeatable), e.g. --option width_mult=0.5."),
    resize: Optional[str] = typer.Option(D("resize"), "--resize", help="center_crop (resize then crop the centre) or letterbox (fit and pad); a detector: resize (plain, both sides to --img-size) or letterbox, never a crop. Default: center_crop for a classifier, resize for a detector."),
    normalization: str = typer.Option(D("normalization"), "--normalization", help="dataset (mean/std of the training split) or imagenet (for ImageNet weights)."),
    val_fraction: float = typer.Option(D("val_fraction"), "--val-fraction", help="Fraction of each class held out for validation (raw class folders only)."),
    max_train_images: Optional[int] = typer.Option(D("max_train_images"), "--max-train-images", help="Train on a seeded, class-balanced subset of this many images."),
    resume: bool = typer.Option(D("resume"), "--resume", help="Continue the run in --out from its last.pt (same settings as it started with)."),
) -> None:
    """Train MODEL on a class folder (a detector, ssdlite_*: on a COCO or YOLO folder); writes best.pt, last.pt, metrics and curves to the run directory."""
    from edgekit.train import train

    flags = dict(locals())
    flags.update(data=str(data), out=str(out) if out else None, weights=str(weights) if weights else None,
                 model_options=parse_model_options(option))
    config = TrainConfig(**{name: flags[name] for name in TRAIN_FLAGS})
    with RichTrainDisplay(console) as display:
        result = train(config, on_progress=display)
    what = "mAP@[.5:.95]" if result.task == "detection" else "accuracy"
    console.print(f"best validation {what} [bold]{result.best_val_acc:.4f}[/]  run: {result.run_dir}")
    console.print(f"  best checkpoint: {result.best_checkpoint}\n  last checkpoint: {result.last_checkpoint}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)  # eval and predict: edgekit/cli/eval_cmd.py
