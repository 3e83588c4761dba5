"""Atomic file writes: the one helper every stage uses, so a crash never leaves a file that looks complete.

    atomic_write(path, write)         write(tmp_path) fills a unique temporary file beside `path`,
                                      then it is renamed over `path`; on any failure it is removed
    atomic_write_text(path, text)
    atomic_write_json(path, data)     indented UTF-8 JSON with a final newline
    replace_folder(staging, final)    put a finished folder in place by renames; the old one is removed only
                                      after, and restored if the swap fails: never a half-written `final`
    replace_all([(staged, final)])    several at once (an export's artifact folders, summary.json and log): all
                                      in place, or, when a rename fails, all as they were; not cut by Ctrl-C
    staging_folder(final)             a hidden, unique, empty folder beside `final` to build it in (removed
                                      if the process is ended by Ctrl-C: edgekit.interrupts)
    writable_folder(path, what)       make sure an output folder exists and can be written, before any work:
                                      one EdgekitError (read-only, under a file, no permission) otherwise
    own_folder(path, what)            `path` where edgekit chose the name (export's OUT/<model>, eval's default
                                      folder): an existing symbolic link or non-folder there is refused
    open_append(path)                 append to a log file, never through a symbolic link
    folder_lock(folder, on_wait)      an exclusive lock (fcntl.flock on the folder itself) held for the block; a
                                      second holder waits, told through on_wait()
    sha256_file(path)                 hex sha256 of a file, read in 1 MiB blocks
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None



def atomic_write(path: Path | str, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o644)  # mkstemp makes owner-only files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path | str, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def writable_folder(path: Path | str, what: str = "--out", create: bool = True, shown: Path | str | None = None) -> Path:
    """`path` as a folder edgekit may write into, checked before the stage does any work, so nothing is
    half-written: a read-only mount, a path under a file, a missing permission is one EdgekitError naming `what`
    and `shown` (the path the user gave; default `path`). create=True makes the folder (with its parents) and
    probes it with a temporary file; create=False makes nothing and probes the nearest folder that exists
    (`path` itself, or the ancestor it would be created in): for a stage that builds its output beside the
    target and renames it there, give the target's parent."""
    from edgekit.errors import EdgekitError

    path = Path(path)
    shown = Path(shown) if shown is not None else path
    probe = path
    try:
        for parent in (path, *path.parents):
            if parent.exists() and not parent.is_dir():
                raise EdgekitError(f"{what} {shown}: {parent} is a file, not a folder")
            if parent.exists():
                probe = parent
                break
        if create:
            path.mkdir(parents=True, exist_ok=True)
            probe = path
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".edgekit-write-test-"):
            pass
    except OSError as error:
        where = "" if probe == shown else f"{probe}: "
        raise EdgekitError(f"cannot write to {what} {shown}: {where}{error.strerror or error}") from None
    return path


def own_folder(path: Path | str, what: str = "--out") -> Path:
    """`path`, a folder whose name edgekit chose inside the user's output folder: a symbolic link there (planted to
    send the output elsewhere) or a file is one EdgekitError; nothing is written through it."""
    from edgekit.errors import EdgekitError

    path = Path(path)
    if path.is_symlink():
        raise EdgekitError(f"{what}: {path} is a symbolic link (to {os.readlink(path)}); edgekit does not write "
                           "through one: remove it or choose another --out")
    if path.exists() and not path.is_dir():
        raise EdgekitError(f"{what}: {path} is a file, not a folder")
    return path


def open_append(path: Path | str):
    """A text stream appending to `path` (created when missing), opened without following a symbolic link: a link
    planted there is an EdgekitError, not a write elsewhere."""
    from edgekit.errors import EdgekitError

    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as error:
        if Path(path).is_symlink():
            raise EdgekitError(f"{path} is a symbolic link; edgekit does not write through one") from None
        raise
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="replace")


def update_digest(digest, path: Path | str) -> None:
    """Feed a file into a hashlib digest in 1 MiB blocks (memory stays flat for large artifacts)."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    update_digest(digest, path)
    return digest.hexdigest()


def staging_folder(final: Path | str, tag: str = "tmp") -> Path:
    """A new empty hidden folder `.<name>.<tag>-XXXX` beside `final` (same file system: renames are atomic),
    registered with edgekit.interrupts so that a forced exit on Ctrl-C removes it."""
    from edgekit import interrupts

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.{tag}-"))
    interrupts.register(staging)
    return staging


def replace_folder(staging: Path | str, final: Path | str, mode: int | None = 0o755) -> Path:
    """Move the finished folder `staging` to `final` by renames. An existing `final` is renamed aside first and
    removed only once the new one is in place; if the second rename fails, the old folder is put back."""
    staging, final = Path(staging), Path(final)
    if mode is not None:
        staging.chmod(mode)  # mkdtemp makes owner-only folders; outputs are meant to be shared
    replace_all([(staging, final)])
    return final


def _aside(final: Path) -> Path:
    """A free hidden name beside `final` to move it to while its replacement goes in."""
    old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
    old.rmdir()
    return old


def replace_all(moves: list[tuple[Path | None, Path]]) -> None:
    """Put each staged path (file or folder) at its final path; `(None, final)` removes `final`. Every existing
    final is first renamed aside, then the staged ones renamed in; if any rename fails, the ones done are undone
    and the old paths put back, so the finals are either all new or all as they were. The old paths are removed
    only at the end. Ctrl-C does not cut it (edgekit.interrupts.critical)."""
    from edgekit import interrupts

    done: list[tuple[Path | None, Path, Path | None]] = []  # (staged, final, aside)
    with interrupts.critical():
        try:
            for staged, final in moves:
                staged, final = (Path(staged) if staged is not None else None), Path(final)
                aside = None
                if final.exists() or final.is_symlink():
                    aside = _aside(final)
                    interrupts.register(aside)
                    os.replace(final, aside)
                done.append((staged, final, aside))
                if staged is not None:
                    os.replace(staged, final)
                    interrupts.forget(staged)
        except BaseException:
            for staged, final, aside in reversed(done):
                if staged is not None and (final.exists() or final.is_symlink()) and not staged.exists():
                    os.replace(final, staged)
                if aside is not None:
                    os.replace(aside, final)
                    interrupts.forget(aside)
            raise
    for _, _, aside in done:
        if aside is not None:
            remove_path(aside)


def make_readable(folder: Path) -> None:
    """mkdtemp/mkstemp create owner-only entries; artifacts are meant to be shared like any output."""
    folder.chmod(0o755)
    for item in folder.rglob("*"):
        item.chmod(0o755 if item.is_dir() else 0o644)


def remove_path(path: Path | str) -> None:
    """Remove a file or a folder tree if it is there (and forget it in edgekit.interrupts' registry)."""
    from edgekit import interrupts

    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
    interrupts.forget(path)


@contextlib.contextmanager
def folder_lock(folder: Path | str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `folder` for the block: fcntl.flock on the folder itself (no lock file is left
    behind). When another process holds it, on_wait() is called once and the call blocks until it is free
    (Ctrl-C stops the wait). The kernel releases the lock when the holder ends, however it ends. A file system
    without flock (some network mounts) is not locked."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # no flock here (ENOLCK, EINVAL): run unlocked rather than not at all
            pass
        yield
    finally:
        os.close(fd)


def read_json_file(path: Path) -> object:
    """A JSON file someone may have written by hand or forged: its content, or one EdgekitError line saying that it
    is missing, unreadable or not UTF-8 JSON (bench.json, profile.json)."""
    from edgekit.errors import EdgekitError

    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise EdgekitError(f"{path} does not exist") from None
    except OSError as error:
        raise EdgekitError(f"{path} cannot be read: {error.strerror or error}") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise EdgekitError(f"{path} is not valid JSON ({error})") from None
