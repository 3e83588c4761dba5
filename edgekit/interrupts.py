"""Ctrl-C: every command ends within a second or two, says so, and leaves nothing half-written.

Python runs a signal handler only between bytecodes of the main thread. A converter inside one long native call
(litert-torch's MLIR conversion, a TensorFlow pass) or a library that catches KeyboardInterrupt itself would hold
Ctrl-C back for tens of seconds. So, while `handling()` is active (the CLI wraps every command in it):

    SIGINT           raises KeyboardInterrupt in the main thread as usual (finally blocks remove staging folders);
                     a watchdog thread, woken by the signal itself (signal.set_wakeup_fd, written by the C-level
                     handler even while the main thread is in native code), waits GRACE_S for the process to end
                     and otherwise removes every registered temporary path and ends it: exit 130, `on_forced_exit`
                     says so. A second SIGINT ends it at once (the same way).
    temporary(path)  registers a staging folder or file to remove if the process is ended that way (fileio's
                     staging_folder does it; replace_folder/remove_path forget it).
    critical()       a short block that must not be cut (an export's final renames, a sync's swap): a SIGINT that
                     arrives inside is acted on when the block ends; the watchdog waits for it too.

Library code never prints: the CLI passes `on_forced_exit`, which writes "interrupted" to the terminal.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

GRACE_S = 1.5  # how long the main thread has to unwind after Ctrl-C before the watchdog ends the process
EXIT_CODE = 130  # 128 + SIGINT, what shells report for a command ended by Ctrl-C

_lock = threading.RLock()
_registered: dict[str, None] = {}  # insertion-ordered set of paths
_critical_depth = 0
_pending = False
_interrupted = False
_signalled = False
_active = False


def register(path: Path | str) -> None:
    with _lock:
        _registered[str(path)] = None


def forget(path: Path | str) -> None:
    with _lock:
        _registered.pop(str(path), None)


@contextlib.contextmanager
def temporary(path: Path | str) -> Iterator[Path]:
    """Register `path` for the duration of the block."""
    register(path)
    try:
        yield Path(path)
    finally:
        forget(path)


def note() -> None:
    """Record that the command was interrupted (a KeyboardInterrupt reached the CLI by another way)."""
    global _interrupted
    _interrupted = True


def interrupted() -> bool:
    """Whether the command was interrupted: a SIGINT arrived while `handling()` was active, or note() was called."""
    return _interrupted


def signalled() -> bool:
    """Whether a real SIGINT arrived while `handling()` was active."""
    return _signalled


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A block that Ctrl-C does not cut: a SIGINT arriving inside raises KeyboardInterrupt when it ends."""
    global _critical_depth, _pending
    with _lock:
        _critical_depth += 1
    try:
        yield
    finally:
        with _lock:
            _critical_depth -= 1
            raise_now = _critical_depth == 0 and _pending and _active
            if raise_now:
                _pending = False
    if raise_now:
        raise KeyboardInterrupt


def _remove_registered() -> None:
    with _lock:
        paths = list(_registered)[::-1]
    for name in paths:
        path = Path(name)
        for _ in range(3):  # the main thread may still be writing into it: retry a few times
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
            if not (path.exists() or path.is_symlink()):
                break
            time.sleep(0.05)


def _handler(signum, frame) -> None:
    global _pending, _interrupted, _signalled
    _interrupted = _signalled = True
    with _lock:
        if _critical_depth:
            _pending = True
            return
    raise KeyboardInterrupt


class _Watchdog(threading.Thread):
    def __init__(self, reader: socket.socket, on_forced_exit: Callable[[], None]):
        super().__init__(name="edgekit-interrupt-watchdog", daemon=True)
        self.reader, self.on_forced_exit = reader, on_forced_exit
        self.stopped = False

    def run(self) -> None:
        deadline = None
        while not self.stopped:
            self.reader.settimeout(None if deadline is None else max(0.01, deadline - time.monotonic()))
            try:
                data = self.reader.recv(64)
            except socket.timeout:
                data = b""
            except OSError:
                return
            if self.stopped:
                return
            if data and signal.SIGINT not in data:
                continue
            if data and deadline is not None:  # a second Ctrl-C: end now
                deadline = time.monotonic()
            elif data:
                deadline = time.monotonic() + GRACE_S
            if deadline is not None and time.monotonic() >= deadline:
                with _lock:
                    busy = _critical_depth > 0
                if busy:  # a critical block (renames) is finishing: give it a moment
                    deadline = time.monotonic() + 0.1
                    continue
                self.force_exit()

    def force_exit(self) -> None:
        _remove_registered()
        with contextlib.suppress(Exception):
            self.on_forced_exit()
        os._exit(EXIT_CODE)


@contextlib.contextmanager
def handling(on_forced_exit: Callable[[], None]) -> Iterator[None]:
    """Install the SIGINT handler and the watchdog for the block (main thread only; elsewhere a no-op)."""
    global _active, _interrupted, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous_handler = signal.getsignal(signal.SIGINT)
    try:
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread of the main interpreter
        reader.close()
        writer.close()
        yield
        return
    watchdog = _Watchdog(reader, on_forced_exit)
    watchdog.start()
    signal.signal(signal.SIGINT, _handler)
    _active, _interrupted, _pending, _signalled = True, False, False, False
    try:
        yield
    finally:
        _active = False
        signal.signal(signal.SIGINT, previous_handler)
        signal.set_wakeup_fd(previous_fd)
        watchdog.stopped = True
        with contextlib.suppress(OSError):
            writer.send(b"\0")  # wake the watchdog so it sees `stopped`
        watchdog.join(timeout=1)
        reader.close()
        writer.close()
