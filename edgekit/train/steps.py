"""One optimisation step, one training epoch, one evaluation pass."""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from edgekit.errors import EdgekitError
from edgekit.progress import Reporter


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


def train_epoch(model, loader, criterion, optimizer, scheduler, scaler, ctx: StepContext, reporter: Reporter,
                description: str) -> dict:
    """One pass over the training loader; the metrics.csv row's training half."""
    model.train()
    total_loss, correct, count = 0.0, 0, 0
    reporter.start(description, len(loader))
    start = time.perf_counter()
    for images, labels in loader:
        images, labels = ctx.to_device(images, labels)
        batch_loss, batch_correct = train_step(model, images, labels, criterion, optimizer, scaler, ctx)
        scheduler.step()
        total_loss, correct, count = total_loss + batch_loss, correct + batch_correct, count + len(labels)
        elapsed = time.perf_counter() - start
        reporter.advance(description, f"loss {total_loss / count:.3f}  acc {correct / count:.3f}  "
                                      f"{count / max(elapsed, 1e-9):.0f} img/s")
    seconds = time.perf_counter() - start
    reporter.finish(description)
    if not math.isfinite(total_loss):
        raise EdgekitError("the training loss became NaN/inf: lower --lr (or disable --amp)")
    return {"train_loss": total_loss / max(count, 1), "train_acc": correct / max(count, 1),
            "lr": optimizer.param_groups[0]["lr"], "images_per_s": count / max(seconds, 1e-9), "seconds": seconds}
