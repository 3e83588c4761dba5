"""Third-party output goes to a log file, not the user's console.

Converters talk on every channel: Python `warnings`, `print` to sys.stdout/sys.stderr, the
`logging` module (absl, coremltools, torch), and native code writing straight to file descriptors
1 and 2 (glog/absl "W0000 ..." lines from TensorFlow Lite, cpuinfo probes, XNNPACK). `captured(log)`
sends all of them to `log` (appended) for the duration of the block, then restores everything.

The console the CLI draws on must not be fd 1/2 while this is active: `console_stream()` gives a
duplicate of the original stdout taken before redirection, so a progress display stays visible.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import IO, Iterator

_saved_stdout: IO[str] | None = None


def console_stream() -> IO[str]:
    """A text stream on the terminal's original stdout, unaffected by `captured` (created once)."""
    global _saved_stdout
    if _saved_stdout is None:
        try:
            sys.stdout.flush()
            fd = sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):  # a test runner's in-memory stdout: use it as it is
            return sys.stdout
        _saved_stdout = os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace", closefd=True)
        atexit.register(_saved_stdout.close)
    return _saved_stdout


@contextlib.contextmanager
def captured(log_path: Path | str) -> Iterator[IO[str]]:
    """Send fd 1/2, sys.stdout/stderr, warnings and root logging to `log_path` inside the block."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")
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
