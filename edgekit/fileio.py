"""Atomic file writes: the one helper every stage uses, so a crash never leaves a file that looks complete.

    atomic_write(path, write)         write(tmp_path) fills a unique temporary file beside `path`,
                                      then it is renamed over `path`; on any failure it is removed
    atomic_write_text(path, text)
    atomic_write_json(path, data)     indented UTF-8 JSON with a final newline
    replace_folder(staging, final)    put a finished folder in place by renames; the old one is removed only
                                      after, and restored if the swap fails: never a half-written `final`
    staging_folder(final)             a hidden, unique, empty folder beside `final` to build it in
    writable_folder(path, what)       make sure an output folder exists and can be written, before any work:
                                      one EdgekitError (read-only, under a file, no permission) otherwise
    sha256_file(path)                 hex sha256 of a file, read in 1 MiB blocks
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


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


def writable_folder(path: Path | str, what: str = "--out") -> Path:
    """`path` as a folder edgekit may write into: created (with its parents) when missing, then probed with a
    temporary file. A read-only mount, a path under a file, a missing permission is one EdgekitError naming
    `what`, raised before the stage does any work, so nothing is half-written."""
    from edgekit.errors import EdgekitError

    path = Path(path)
    for parent in (path, *path.parents):
        if parent.exists() and not parent.is_dir():
            raise EdgekitError(f"{what} {path}: {parent} is a file, not a folder")
        if parent.exists():
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".edgekit-write-test-"):
            pass
    except OSError as error:
        raise EdgekitError(f"cannot write to {what} {path}: {error.strerror or error}") from None
    return path


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
    """A new empty hidden folder `.<name>.<tag>-XXXX` beside `final` (same file system: renames are atomic)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.{tag}-"))


def replace_folder(staging: Path | str, final: Path | str, mode: int | None = 0o755) -> Path:
    """Move the finished folder `staging` to `final` by renames. An existing `final` is renamed aside first and
    removed only once the new one is in place; if the second rename fails, the old folder is put back."""
    staging, final = Path(staging), Path(final)
    if mode is not None:
        staging.chmod(mode)  # mkdtemp makes owner-only folders; outputs are meant to be shared
    old = None
    if final.exists() or final.is_symlink():
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
        old.rmdir()
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        remove_path(old)
    return final


def remove_path(path: Path | str) -> None:
    """Remove a file or a folder tree if it is there."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
