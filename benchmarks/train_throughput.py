"""Training throughput: edgekit's training step vs a plain torchvision loop, measured in one run.

    .venv/bin/python benchmarks/train_throughput.py [--img-size 224] [--batch-size 8] [--steps 5]
    python benchmarks/train_throughput.py --device cuda [--amp-dtype bf16|fp16] [--compile] [--rounds 5]

edgekit side: the zoo's model, `edgekit.train.train_step` with AdamW parameter groups, label
smoothing and, on CUDA, mixed precision + channels_last. Baseline: torchvision.models.mobilenet_v2,
SGD, plain fp32, contiguous. Both run on the same synthetic batch, so only the step is timed
(data loading is not part of either figure). Rounds alternate between the two (edgekit, baseline,
edgekit, ...) so that clock and thermal drift favour neither; the figure is the median round.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision
from torch import nn

from edgekit.models import create_model
from edgekit.train.devices import autocast_dtype, select_device
from edgekit.train.optim import make_optimizer, parameter_groups
from edgekit.train.steps import StepContext, train_step


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, device: torch.device, warmup: int, steps: int) -> float:
    """Seconds per step after `warmup` untimed steps."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / steps


def edgekit_step(model_name: str, images: torch.Tensor, labels: torch.Tensor, device: torch.device, num_classes: int,
                 amp_dtype: str = "auto", compile_model: bool = False):
    ctx = StepContext(device=device, amp_dtype=autocast_dtype(device, None, prefer=amp_dtype),
                      channels_last=device.type == "cuda")
    model = create_model(model_name, num_classes=num_classes).to(device)
    if ctx.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    if compile_model:
        model = torch.compile(model)
    optimizer = make_optimizer("adamw", parameter_groups(model, set(), lr=1e-3, weight_decay=0.05), 1e-3, 0.05)
    scaler = torch.amp.GradScaler(device.type, enabled=ctx.amp_dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    batch, target = ctx.to_device(images, labels)
    return lambda: train_step(model, batch, target, criterion, optimizer, scaler, ctx), ctx


def torchvision_step(images: torch.Tensor, labels: torch.Tensor, device: torch.device, num_classes: int):
    model = torchvision.models.mobilenet_v2(num_classes=num_classes).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    batch, target = images.to(device), labels.to(device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(batch), target)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2", help="edgekit model name (baseline stays torchvision mobilenet_v2)")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=None, help="default: 8 on CPU, 128 on CUDA")
    parser.add_argument("--steps", type=int, default=None, help="timed steps; default: 5 on CPU, 50 on CUDA")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (allocator, cudnn autotune)")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--amp-dtype", default="auto", choices=("auto", "bf16", "fp16"), help="edgekit side, on CUDA")
    parser.add_argument("--compile", action="store_true", help="torch.compile the edgekit model (as `edgekit train --compile`)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of --steps each; the median round counts")
    args = parser.parse_args()

    device = select_device(args.device)
    on_cuda = device.type == "cuda"
    batch_size = args.batch_size or (128 if on_cuda else 8)
    steps = args.steps or (50 if on_cuda else 5)
    if on_cuda:
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    images = torch.randn(batch_size, 3, args.img_size, args.img_size)
    labels = torch.randint(0, args.num_classes, (batch_size,))

    step, ctx = edgekit_step(args.model, images, labels, device, args.num_classes, args.amp_dtype, args.compile)
    baseline = torchvision_step(images, labels, device, args.num_classes)
    ours, theirs = [], []
    for round_index in range(args.rounds):
        warmup = args.warmup if round_index == 0 else 1
        ours.append(time_steps(step, device, warmup, steps))
        theirs.append(time_steps(baseline, device, warmup, steps))
    edgekit_seconds, baseline_seconds = statistics.median(ours), statistics.median(theirs)

    name = torch.cuda.get_device_name(device) if on_cuda else f"CPU ({torch.get_num_threads()} threads)"
    precision = str(ctx.amp_dtype).removeprefix("torch.") if ctx.amp_dtype else "fp32"
    print(f"device: {name}; torch {torch.__version__}; batch {batch_size}, {args.img_size} px, {args.rounds} alternating "
          f"rounds of {steps} timed steps after {args.warmup} warm-up; median round")
    print(f"edgekit {args.model} (AdamW, {precision}, channels_last={ctx.channels_last}, compile={args.compile}): "
          f"{batch_size / edgekit_seconds:9.1f} images/s")
    print(f"torchvision mobilenet_v2 (SGD, fp32):        {batch_size / baseline_seconds:9.1f} images/s")
    print(f"ratio edgekit / torchvision: {baseline_seconds / edgekit_seconds:.2f}x")


if __name__ == "__main__":
    main()
