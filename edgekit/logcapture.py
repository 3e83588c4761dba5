"""Third-party output goes to a log file, not the user's console (every stage that runs third-party code in-process).

Converters talk on every channel: Python `warnings`, `print` to sys.stdout/sys.stderr, the
`logging` module (absl, coremltools, torch), and native code writing straight to file descriptors
1 and 2 (glog/absl "W0000 ..." lines from TensorFlow Lite, cpuinfo probes, XNNPACK). `captured(log)`
sends all of them to `log` (appended) for the duration of the block, then restores everything.

The console the CLI draws on must not be fd 1/2 while this is active: `console_stream()` and `error_stream()`
give duplicates of the original stdout and stderr taken before redirection, so a progress display stays visible.
Every stage that runs third-party code in-process uses it (export's converters; eval, predict and bench --data
running a runtime: LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate" on fd 2).
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import IO, Iterator

from edgekit.fileio import open_append

_saved: dict[str, IO[str]] = {}


def _duplicate(name: str) -> IO[str]:
    """A text stream on a duplicate of sys.<name>'s descriptor, made once; an in-memory stream (a test runner's)
    has no descriptor and is used as it is, never kept."""
    if name not in _saved:
        stream = getattr(sys, name)
        try:
            stream.flush()
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            return stream
        _saved[name] = os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace", closefd=True)
        atexit.register(_saved[name].close)
    return _saved[name]


def console_stream() -> IO[str]:
    """A text stream on the terminal's original stdout, unaffected by `captured`."""
    return _duplicate("stdout")


def error_stream() -> IO[str]:
    """A text stream on the terminal's original stderr, unaffected by `captured`."""
    return _duplicate("stderr")


@contextlib.contextmanager
def captured(log_path: Path | str | None) -> Iterator[IO[str]]:
    """Send fd 1/2, sys.stdout/stderr, warnings and root logging to `log_path` (appended) inside the block;
    None: to an anonymous temporary file, read back through the yielded stream and gone when the block ends."""
    if log_path is None:
        log = tempfile.TemporaryFile("w+", buffering=1, encoding="utf-8", errors="replace")
    else:
        log_path = Path(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open_append(log_path)  # never through a symbolic link
    saved_fds = []
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for fd in (1, 2):
            saved_fds.append((fd, os.dup(fd)))
            os.dup2(log.fileno(), fd)
    except (OSError, ValueError):  # no real descriptors (an embedding host): Python-level capture only
        for fd, saved in saved_fds:
            os.dup2(saved, fd)
            os.close(saved)
        saved_fds = []
    handler = logging.StreamHandler(log)
    root = logging.getLogger()
    root.addHandler(handler)
    previous_showwarning = warnings.showwarning

    def to_log(message, category, filename, lineno, file=None, line=None):
        log.write(warnings.formatwarning(message, category, filename, lineno, line))

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            warnings.simplefilter("default")
            warnings.showwarning = to_log
            yield log
    finally:
        warnings.showwarning = previous_showwarning
        root.removeHandler(handler)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, saved in saved_fds:
            os.dup2(saved, fd)
            os.close(saved)
        log.close()


def read_back(log: IO[str]) -> str:
    """What a `captured(None)` block's temporary log holds so far (call inside the block)."""
    log.flush()
    log.seek(0)
    return log.read()


def append_log(path: Path | str, text: str) -> Path | None:
    """Append `text` to the log file at `path` when there is anything in it; the path, or None."""
    if not text.strip():
        return None
    path = Path(path)
    with open_append(path) as log:
        log.write(text if text.endswith("\n") else text + "\n")
    return path
