"""What training hands its caller besides progress: each finished epoch.

    train(config, on_progress=callback)   callback(event) for every edgekit.progress.Progress: tasks (the
                                          normalisation statistics, each epoch's batches, validation) and, as
                                          kind "result", one `Epoch` per finished epoch. The CLI renders them
                                          (cli/train_cmd.py); tests pass a list's append.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Epoch:
    """An epoch ended and its files (checkpoints, metrics.csv, curves) are written."""
    row: dict = field(default_factory=dict)  # the metrics.csv row
    is_best: bool = False
    epochs: int = 0  # of the whole run
