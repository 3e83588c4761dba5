"""What training tells its caller, instead of printing: progress of a task and each finished epoch.

    train(config, on_event=callback)     callback(event) for every TrainEvent below; the CLI renders
                                         them with rich (cli/train_cmd.py), tests pass nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Union


@dataclass(frozen=True)
class ProgressEvent:
    """A task with a known number of steps: started (total), advanced (stats), finished."""
    task: str
    kind: Literal["start", "advance", "finish"]
    total: int | None = None
    stats: str = ""


@dataclass(frozen=True)
class EpochEvent:
    """An epoch ended and its files (checkpoints, metrics.csv, curves) are written."""
    row: dict = field(default_factory=dict)  # the metrics.csv row
    is_best: bool = False
    epochs: int = 0  # of the whole run


TrainEvent = Union[ProgressEvent, EpochEvent]
EventCallback = Callable[[TrainEvent], None]


class Reporter:
    """Sends events to a callback; silent when there is none (or on a non-main DDP process)."""

    def __init__(self, callback: EventCallback | None):
        self.callback = callback

    def emit(self, event: TrainEvent) -> None:
        if self.callback is not None:
            self.callback(event)

    def start(self, task: str, total: int) -> None:
        self.emit(ProgressEvent(task, "start", total=total))

    def advance(self, task: str, stats: str = "") -> None:
        self.emit(ProgressEvent(task, "advance", stats=stats))

    def finish(self, task: str) -> None:
        self.emit(ProgressEvent(task, "finish"))
