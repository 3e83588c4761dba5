"""Training: a class folder (or a prepared split) in, a run directory with checkpoints out.

The run directory's layout and writers live in edgekit.rundir; this package only trains:

    config.py    TrainConfig (the options and their defaults), validation, --resume's merge
    devices.py   device, mixed precision, workers, DDP under torchrun, determinism
    weights.py   transfer learning: matching tensors of --weights, backbone freezing
    optim.py     parameter groups, AdamW/SGD, warm-up steps and the cosine schedule
    sampling.py  the splits, the train transform, seeded loaders
    steps.py     a training step, an epoch, an evaluation pass
    events.py    progress and epoch events for the caller to render (the library prints nothing)
    plots.py     loss.png and accuracy.png
    loop.py      train(): the run
"""
from edgekit.data.folder import subset_per_class
from edgekit.rundir import METRIC_COLUMNS
from edgekit.train.config import RUNTIME_FIELDS, TrainConfig, config_default, default_run_dir, resolve_config
from edgekit.train.devices import (DistInfo, autocast_dtype, default_workers, deterministic, dist_info_from_env,
                                   init_distributed, select_device)
from edgekit.train.events import EpochEvent, EventCallback, ProgressEvent, TrainEvent
from edgekit.train.loop import RunState, TrainResult, make_checkpoint, restore_rng_state, rng_state, train
from edgekit.train.optim import HEAD_LR_MULT, make_optimizer, make_scheduler, parameter_groups
from edgekit.train.plots import plot_curves
from edgekit.train.sampling import build_train_transform, check_splits, make_loader, reseed_epoch
from edgekit.train.steps import StepContext, evaluate_model, train_epoch, train_step
from edgekit.train.weights import load_matching_weights, set_backbone_frozen

__all__ = ["DistInfo", "EpochEvent", "EventCallback", "HEAD_LR_MULT", "METRIC_COLUMNS", "ProgressEvent", "RUNTIME_FIELDS",
           "RunState", "StepContext", "TrainConfig", "TrainEvent", "TrainResult", "autocast_dtype", "build_train_transform",
           "check_splits", "config_default", "default_run_dir", "default_workers", "deterministic", "dist_info_from_env",
           "evaluate_model", "init_distributed", "load_matching_weights", "make_checkpoint", "make_loader",
           "make_optimizer", "make_scheduler", "parameter_groups", "plot_curves", "reseed_epoch", "resolve_config",
           "restore_rng_state", "rng_state", "select_device", "set_backbone_frozen", "subset_per_class", "train",
           "train_epoch", "train_step"]
