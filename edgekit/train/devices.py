"""Where training runs: the device, mixed precision, data-loader workers, DDP under torchrun, determinism."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False  # started by torchrun (its environment is set), even with one process

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """DDP on: several processes, or torchrun with one (the same code path as on several GPUs)."""
        return self.world_size > 1 or self.launched


def dist_info_from_env(env: dict | None = None) -> DistInfo:
    """The torchrun environment (WORLD_SIZE, RANK, LOCAL_RANK); one process when absent."""
    env = os.environ if env is None else env
    return DistInfo(rank=int(env.get("RANK", 0)), world_size=int(env.get("WORLD_SIZE", 1)),
                    local_rank=int(env.get("LOCAL_RANK", 0)), launched="TORCHELASTIC_RUN_ID" in env)


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


def autocast_dtype(device: torch.device, amp: bool | None, bf16_supported: bool | None = None,
                   prefer: str = "auto") -> torch.dtype | None:
    """Mixed precision only on CUDA: `prefer` "auto" takes bf16 where the GPU has it (no loss scaling
    needed), else fp16; "fp16" forces fp16 (with loss scaling); "bf16" fails where the GPU lacks it."""
    if device.type != "cuda" or amp is False:
        return None
    bf16_supported = torch.cuda.is_bf16_supported() if bf16_supported is None else bf16_supported
    if prefer == "fp16":
        return torch.float16
    if prefer == "bf16" and not bf16_supported:
        raise EdgekitError("--amp-dtype bf16 asked for, but this GPU has no bfloat16: use --amp-dtype fp16")
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


def finish_distributed(dist_info: DistInfo) -> None:
    if dist_info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(dist_info: DistInfo) -> None:
    if dist_info.enabled:
        dist.barrier()


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
