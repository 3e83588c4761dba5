"""Training: a class folder (or a prepared split) in, a run directory with checkpoints out.

    from edgekit.train import TrainConfig, train
    result = train(TrainConfig(model="mobilenet_v2", data="DATA", out="runs/mnv2"), on_progress=callback)

The run directory's layout and writers live in edgekit.rundir; this package only trains, one file per concern:

    config.py    TrainConfig (the options and their defaults), validation, --resume's merge (torch-free)
    devices.py   device, mixed precision, workers, DDP under torchrun, determinism
    weights.py   transfer learning: matching tensors of --weights, backbone freezing
    optim.py     parameter groups, AdamW/SGD, warm-up steps and the cosine schedule
    sampling.py  the splits, the train transform, seeded loaders
    steps.py     a training step, an epoch, an evaluation pass
    events.py    Epoch: a finished epoch, handed on as a "result" Progress event (the library prints nothing)
    plots.py     loss.png and accuracy.png
    loop.py      train(): the run; TrainResult
Importing this package loads no torch; `train` and `TrainResult` load it on first use.
"""
from __future__ import annotations

from edgekit.train.config import TrainConfig
from edgekit.train.events import Epoch

__all__ = ["TrainConfig", "TrainResult", "train", "Epoch"]


def __getattr__(name: str):
    if name in ("train", "TrainResult"):
        from edgekit.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'edgekit.train' has no attribute {name!r}")
