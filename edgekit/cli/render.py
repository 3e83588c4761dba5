"""How the CLI draws: consoles, tables that stay readable at 80 columns, footnotes, and the progress display that
renders the library's `edgekit.progress.Progress` events.

The house rule for tables (issue 25): every table edgekit prints reads at 80 columns (a terminal that narrow, or a
log, where rich assumes 80). A table shows the few columns a person reads first; long notes become numbered
footnotes printed under it; every column folds instead of cutting (rich's default would end a cell with "…"), so
nothing printed is ever lost. Wider views live behind flags (`bench --wide`) and in the files (JSON, CSV, report).
"""
from __future__ import annotations

from typing import Callable, Iterable

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress as RichProgress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from edgekit.progress import Progress



def out() -> Console:
    """The console on the terminal's stdout: stays there while a stage sends third-party output to a log
    (edgekit.logcapture.captured redirects descriptors 1 and 2)."""
    from edgekit.logcapture import console_stream

    return Console(file=console_stream(), highlight=False)


def err() -> Console:
    """The console on the terminal's stderr (progress, and tables under --json), likewise."""
    from edgekit.logcapture import error_stream

    return Console(file=error_stream(), highlight=False)


def table(title: str | None, columns: Iterable[str | tuple[str, str]], *, caption: str | None = None) -> Table:
    """A compact table: no vertical rules, folded cells. `columns`: names (left-justified) or (name, justify)."""
    result = Table(title=title, title_justify="left", caption=caption, caption_justify="left", box=box.SIMPLE_HEAD,
                   pad_edge=False, show_edge=False, collapse_padding=True)
    for column in columns:
        name, justify = (column, "left") if isinstance(column, str) else column
        result.add_column(name, justify=justify, overflow="fold")
    return result


class Footnotes:
    """Long notes out of the table: `cell = notes.add(text)` gives "[n]", `notes.print(console)` lists them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> str:
        if text in self.items:
            return f"[{self.items.index(text) + 1}]"
        self.items.append(text)
        return f"[{len(self.items)}]"

    def print(self, console: Console) -> None:
        for number, text in enumerate(self.items, start=1):
            console.print(f"[{number}] {text}", markup=False, highlight=False)


class _Count(ProgressColumn):
    """done/total for tasks that have a total; nothing for a stage line."""

    def render(self, task) -> Text:
        return Text("" if task.total is None else f"{int(task.completed)}/{int(task.total)}", style="progress.download")


class ProgressDisplay:
    """Renders Progress events on a console: "stage" as a spinner line, start/advance/finish as a bar, "warning"
    as a printed line, "result" through `on_result(event, console)` (a line per finished piece) when given.
    Transient: nothing of it stays once the block ends, and a console that is not a terminal (a log, a pipe) gets
    only the warnings and results. Use as a context manager and pass the instance as the stage's `on_progress`."""

    def __init__(self, console: Console | None = None,
                 on_result: Callable[[Progress, Console], None] | None = None):
        console = console or err()
        self.progress = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                     _Count(), TimeElapsedColumn(), console=console, transient=True,
                                     disable=not console.is_terminal)  # a log or a pipe gets no bars
        self.stage_task = None
        self.tasks: dict[str, int] = {}
        self.on_result = on_result

    def __enter__(self) -> "ProgressDisplay":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, event: Progress) -> None:
        if event.kind == "warning":
            self.progress.console.print(f"[bold yellow]warning:[/] {event.message}", highlight=False)
        elif event.kind == "stage":
            if self.stage_task is None:
                self.stage_task = self.progress.add_task(event.message, total=None)
            else:
                self.progress.update(self.stage_task, description=event.message)
        elif event.kind == "start":
            self.tasks[event.message] = self.progress.add_task(event.message, total=event.total)
        elif event.kind == "advance" and event.message in self.tasks:
            self.progress.advance(self.tasks[event.message], event.steps)
        elif event.kind == "finish" and event.message in self.tasks:
            self.progress.remove_task(self.tasks.pop(event.message))
        elif event.kind == "result" and self.on_result is not None:
            self.on_result(event, self.progress.console)


def percent(value: float | None, digits: int = 1) -> str:
    """0..1 as "12.3 %"."""
    return "" if value is None else f"{100 * value:.{digits}f} %"


def run_stage(stage, path, options, as_json: bool):
    """(stage(path, options) run under a progress display on stderr, the console its tables go to: stderr when
    --json puts JSON on stdout)."""
    with ProgressDisplay(err()) as display:
        result = stage(path, options, on_progress=display)
    return result, (err() if as_json else out())
