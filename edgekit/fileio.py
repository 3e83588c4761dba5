"""Atomic file writes: the one helper every stage uses, so a crash never leaves a file that looks complete.

    atomic_write(path, write)         write(tmp_path) fills a unique temporary file beside `path`,
                                      then it is renamed over `path`; on any failure it is removed
    atomic_write_text(path, text)
    atomic_write_json(path, data)     indented UTF-8 JSON with a final newline
    sha256_file(path)                 hex sha256 of a file, read in 1 MiB blocks
"""
from __future__ import annotations

import hashlib
import json
import os
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


def update_digest(digest, path: Path | str) -> None:
    """Feed a file into a hashlib digest in 1 MiB blocks (memory stays flat for large artifacts)."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    update_digest(digest, path)
    return digest.hexdigest()
