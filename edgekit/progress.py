"""How a stage tells its caller what it is doing, instead of printing: one small event type and a reporter.

    Progress("stage", "calibrating")                   what runs now (one line, replaces the last)
    Progress("start", "QAT fine-tuning", total=40)     a task with a known number of steps ...
    Progress("advance", "QAT fine-tuning", steps=1)    ... a step done ...
    Progress("finish", "QAT fine-tuning")              ... and over
    Progress("warning", "only 12 calibration images")  say it once, plainly
    Progress("result", "onnx int8: verified", data=r)  a piece of the result is ready (an export's ArtifactResult,
                                                       a training epoch's edgekit.train.Epoch)

Every stage (data, train, export, quantize, eval, bench, profile, report) takes
`on_progress: Callable[[Progress], None] | None`; None is silence. The CLI renders the events
(edgekit/cli/render.py `ProgressDisplay`); a notebook or a service can log them. Torch-free and dependency-free.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal

Kind = Literal["stage", "start", "advance", "finish", "warning", "result"]


@dataclass(frozen=True)
class Progress:
    kind: Kind
    message: str
    total: int | None = None  # "start": the number of steps (None: unknown)
    steps: int = 1  # "advance": how many steps were done
    detail: str = ""  # "advance": running figures to show beside the bar ("loss 0.412  310 img/s")
    data: Any = field(default=None, compare=False)  # "result": the finished piece itself


OnProgress = Callable[[Progress], None]


class Reporter:
    """Sends Progress events to a callback; every method is a no-op without one."""

    def __init__(self, callback: OnProgress | None = None):
        self.callback = callback

    def emit(self, event: Progress) -> None:
        if self.callback is not None:
            self.callback(event)

    def stage(self, message: str) -> None:
        self.emit(Progress("stage", message))

    def warning(self, message: str) -> None:
        self.emit(Progress("warning", message))

    def start(self, message: str, total: int | None) -> None:
        self.emit(Progress("start", message, total=total))

    def advance(self, message: str, detail: str = "", steps: int = 1) -> None:
        self.emit(Progress("advance", message, steps=steps, detail=detail))

    def finish(self, message: str) -> None:
        self.emit(Progress("finish", message))

    def result(self, message: str, data: Any) -> None:
        self.emit(Progress("result", message, data=data))

    @contextmanager
    def task(self, message: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """`with reporter.task("calibrating", n) as advance: ... advance(k)`; the task finishes on the way out."""
        self.start(message, total)
        try:
            yield lambda steps=1: self.advance(message, steps=steps)
        finally:
            self.finish(message)


def reporter(on_progress: OnProgress | Reporter | None) -> Reporter:
    """A Reporter for a callback (or the Reporter itself, so stages can pass theirs on)."""
    return on_progress if isinstance(on_progress, Reporter) else Reporter(on_progress)
