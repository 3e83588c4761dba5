"""Helpers of the hostile-input tests (tests/test_hostile_*.py): running the CLI through its entry point, taking a
snapshot of a folder tree, and the two file-system faults that need more than chmod when the tests run as root.

    run_cli(args, capsys) -> Result                 edgekit.cli.main.main in-process; exit code, stdout, stderr
    assert_one_error(result, needle)                exit 1, exactly one `error:` line holding `needle`, no traceback
    tree(root) -> dict                              every path under root -> sha256 / "dir" / "link -> target"
    without_dac_override()                          this thread loses CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: as root,
                                                    a chmod 0o555 folder or a chmod 000 file refuses it (EACCES)
    read_only_mount(path)                           a tmpfs mounted at `path`, filled by the caller, remounted read-only

Why the capability drop: the tests run as root here and in CI, and root ignores permission bits, so chmod alone
would test nothing. Linux capabilities are per thread: dropping the two from the calling thread's *effective* set
(keeping them permitted) makes the kernel apply the permission bits to that thread until they are raised again.
The command runs in-process, in that thread, so its own open()/mkdir() calls get a real EACCES from the kernel.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.startswith("error:")]


def run_cli(args: list[str], capsys) -> Result:
    """`edgekit ARGS` through edgekit.cli.main.main, as the `edgekit` script runs it (in-process: no interpreter
    start per case)."""
    from edgekit.cli.main import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return Result(exited.value.code, out, err)


def assert_one_error(result: Result, needle: str | tuple[str, ...] = "") -> None:
    needles = (needle,) if isinstance(needle, str) else needle
    assert "Traceback" not in result.text, result.text
    assert result.code == 1, f"exit {result.code}: {result.text[-3000:]}"
    assert len(result.error_lines) == 1, result.text[-3000:]
    line = " ".join(result.text.split())  # the line as a terminal shows it, soft-wrapped or not
    assert any(n in line for n in needles), f"none of {needles!r} in: {result.error_lines[0]}"


def tree(root: Path) -> dict[str, str]:
    """Every file, folder and link under root (hidden ones included) with its content's sha256."""
    root = Path(root)
    if not root.exists():
        return {}
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = f"link -> {os.readlink(path)}"
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# ----------------------------------------------------------------------------- permissions as root

_CAPGET_CAPSET = {"x86_64": (125, 126), "aarch64": (90, 91), "arm64": (90, 91)}
_CAP_DAC = (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _capabilities(effective: int | None = None) -> int:
    """The calling thread's effective capability bits 0-31 (and set them when `effective` is given)."""
    numbers = _CAPGET_CAPSET.get(platform.machine())
    if numbers is None or platform.system() != "Linux":
        raise OSError("capget/capset: not Linux on x86_64 or aarch64")
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _Header(0x20080522, 0), (_Data * 2)()
    if libc.syscall(numbers[0], ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    if effective is not None:
        data[0].effective = effective
        if libc.syscall(numbers[1], ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset")
    return data[0].effective


def permission_bits_apply() -> str | None:
    """None when chmod'ed folders refuse writes to this process (not root, or root able to drop the two
    capabilities from a thread); else why not (the test is skipped with it)."""
    if os.geteuid() != 0:
        return None
    try:
        _capabilities()
    except OSError as error:
        return f"running as root and cannot drop CAP_DAC_OVERRIDE for a thread ({error})"
    return None


@contextlib.contextmanager
def without_dac_override() -> Iterator[None]:
    """Permission bits apply to this thread inside the block (a no-op when not root)."""
    if os.geteuid() != 0:
        yield
        return
    saved = _capabilities()
    _capabilities(saved & ~_CAP_DAC)
    try:
        yield
    finally:
        _capabilities(saved)


# ----------------------------------------------------------------------------- a read-only file system

def mount_tmpfs(path: Path) -> str | None:
    """Mount a small tmpfs at `path`; None on success, else why not (needs CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "edgekit-test", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return f"cannot mount a tmpfs ({(done.stderr or done.stdout).strip() or done.returncode}): needs CAP_SYS_ADMIN"
    return None


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)
