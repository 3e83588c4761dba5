"""Every command that writes, against every output-path fault (issue 26, kind 4), the way tests/test_cli_usage.py
walks every command for usage errors: one `error:` line naming the option and the path, exit 1, no traceback,
nothing written anywhere (the whole test folder is compared byte for byte) and no work done first.

The faults, and what each case really exercises here (the tests run as root, where chmod alone tests nothing):
    under a file     the output path lies under an existing regular file: ENOTDIR from the kernel on any user.
    read-only mount  a tmpfs mounted, filled, then remounted read-only (`mount -o remount,ro`): EROFS from the
                     kernel, as on a read-only volume or a read-only CI cache. Needs CAP_SYS_ADMIN (root in the
                     container); skipped with the reason otherwise.
    no permission    chmod 0o555 folders. As root, the calling thread drops CAP_DAC_OVERRIDE and
                     CAP_DAC_READ_SEARCH from its effective set for the command (tests/hostile_support.py), so the
                     kernel applies the permission bits: a real EACCES. Not root: chmod alone does it.
    missing parent   the output's parent folders do not exist: every command creates them and succeeds (report
                     keeps its contract: --out's folder must exist, one line otherwise).
The commands run in-process through edgekit.cli.main.main (the function the `edgekit` script runs).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from hostile_support import (assert_one_error, mount_tmpfs, permission_bits_apply, remount_read_only, run_cli, tree,
                             unmount, without_dac_override)

# command: what the error line names (any of) for a folder given as --out (or the export/app folder it writes in)
COMMANDS = ("eval", "predict", "report", "bench", "data audit", "data prepare", "quantize", "train", "export",
            "android sync", "android fixtures")
DETECTOR = Path(__file__).parent / "fixtures" / "weights" / "ssdlite_mobilenet_v2.pt"  # predict --out draws its boxes
DETECTION_IMAGE = Path(__file__).parents[1] / "samples" / "detection-fashion" / "val" / "val_000.jpg"


@dataclass
class Inputs:
    export: Path      # a good export (read only by the commands, except bench, which writes bench.json into it)
    data: Path        # a labelled class folder of the export's classes
    checkpoint: Path  # a trained run's best.pt (quantize)


@pytest.fixture(scope="module")
def inputs(hostile_export, tmp_path_factory) -> Inputs:
    root = tmp_path_factory.mktemp("hostile-outputs")
    export = Path(shutil.copytree(hostile_export.export, root / "export" / "mobilenet_v2"))
    return Inputs(export=export, data=hostile_export.data, checkpoint=hostile_export.checkpoint)


def command_line(name: str, inputs: Inputs, out: Path, export: Path | None = None, app: Path | None = None) -> list:
    """`name` with good inputs, writing to `out` (bench: into `export`; android sync: into `app`'s assets)."""
    return {
        "eval": ["eval", inputs.export / "onnx-fp32", "--data", inputs.data, "--split", "all", "--out", out],
        "predict": ["predict", DETECTOR, DETECTION_IMAGE, "--out", out],
        "report": ["report", inputs.export, "--out", out / "report.html"],
        "bench": ["bench", export or inputs.export, "--iterations", "2", "--warmup", "0", "--rounds", "1",
                  "--threads", "1"],
        "data audit": ["data", "audit", inputs.data, "--out", out],
        "data prepare": ["data", "prepare", inputs.data, "--out", out],
        "quantize": ["quantize", inputs.checkpoint, "--sensitivity", "--max-layers", "1", "--eval-size", "4",
                     "--calib-size", "4", "--worst", "1", "--out", out],
        "train": ["train", "mobilenet_v2", "--data", inputs.data, "--epochs", "1", "--img-size", "32",
                  "--batch-size", "4", "--out", out],
        "export": ["export", "mobilenet_v2", "--checkpoint", inputs.checkpoint, "--formats", "onnx", "--out", out],
        "android sync": ["android", "sync", inputs.export, "--app", app if app is not None else out],
        "android fixtures": ["android", "fixtures", inputs.export, "--out", out],
    }[name]


def _app(root: Path) -> Path:
    """An android_demo-like project whose assets hold one good model."""
    model = root / "app" / "src" / "main" / "assets" / "models" / "good-onnx-fp32"
    model.mkdir(parents=True)
    (model / "model.onnx").write_bytes(b"a good model")
    (root / "app" / "src" / "main" / "AndroidManifest.xml").write_text("<manifest/>\n")
    return root


def test_every_command_with_an_output_option_is_walked():
    """The command tree, walked from the app as tests/test_cli_usage.py does: a command added later with an --out
    option (or one of the two that write into a folder they are given) must be added to COMMANDS."""
    import typer

    from edgekit.cli.main import app

    found = set()

    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        elif any("--out" in getattr(p, "opts", ()) or "--app" in getattr(p, "opts", ()) for p in command.params):
            found.add(" ".join(path))

    walk(typer.main.get_command(app), [])
    assert found <= set(COMMANDS), f"not walked through the output faults: {sorted(found - set(COMMANDS))}"
    assert found >= set(COMMANDS) - {"bench"}  # bench writes bench.json into the export folder it is given


# ----------------------------------------------------------------------------- under a file

@pytest.mark.parametrize("name", [c for c in COMMANDS if c != "bench"])  # bench writes into its input folder
def test_an_output_under_a_file_is_one_line(name, inputs, tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a user's file\n")
    out = blocker / "out"
    args = command_line(name, inputs, out, app=blocker)  # android sync: --app is the file itself
    before = tree(tmp_path)
    result = run_cli(args, capsys)
    assert_one_error(result, ("is a file, not a folder", "no such folder: is --app the android_demo folder"))
    assert str(blocker) in result.error_lines[0] or str(blocker) in " ".join(result.text.split())
    assert tree(tmp_path) == before


# ----------------------------------------------------------------------------- a read-only file system

@pytest.fixture(scope="module")
def read_only(inputs, tmp_path_factory) -> Path:
    """A read-only tmpfs holding an export (bench writes into it) and an app (android sync writes into it)."""
    mount = tmp_path_factory.mktemp("read-only") / "mnt"
    why_not = mount_tmpfs(mount)
    if why_not:
        pytest.skip(why_not)
    try:
        shutil.copytree(inputs.export, mount / "export" / "mobilenet_v2")
        _app(mount / "app")
        remount_read_only(mount)
        yield mount
    finally:
        unmount(mount)


@pytest.mark.parametrize("name", COMMANDS)
def test_an_output_on_a_read_only_file_system_is_one_line(name, inputs, read_only, capsys):
    out = read_only if name == "report" else read_only / "out"  # report: --out's folder must exist
    args = command_line(name, inputs, out, export=read_only / "export" / "mobilenet_v2",
                        app=read_only / "app")
    before = tree(read_only)
    result = run_cli(args, capsys)
    assert_one_error(result, "Read-only file system")
    assert "cannot write to" in result.error_lines[0]
    assert tree(read_only) == before


# ----------------------------------------------------------------------------- no permission

PERMISSIONS = permission_bits_apply()


@pytest.fixture
def locked(inputs, tmp_path) -> Path:
    """Folders the user may read but not write (0o555): an output parent, an export folder, an app's assets."""
    root = tmp_path / "locked"
    shutil.copytree(inputs.export, root / "export" / "mobilenet_v2")
    _app(root / "app")
    folders = [root, root / "export" / "mobilenet_v2", root / "app" / "app" / "src" / "main" / "assets",
               root / "app" / "app" / "src" / "main" / "assets" / "models"]
    for folder in folders:
        folder.chmod(0o555)
    yield root
    for folder in folders:
        folder.chmod(0o755)


@pytest.mark.skipif(PERMISSIONS is not None, reason=str(PERMISSIONS))
@pytest.mark.parametrize("name", COMMANDS)
def test_an_output_without_write_permission_is_one_line(name, inputs, locked, capsys):
    out = locked if name == "report" else locked / "out"  # report: --out's folder must exist
    args = command_line(name, inputs, out, export=locked / "export" / "mobilenet_v2",
                        app=locked / "app")
    before = tree(locked)
    with without_dac_override():
        result = run_cli(args, capsys)
    assert_one_error(result, "Permission denied")
    assert "cannot write to" in result.error_lines[0]
    assert tree(locked) == before


# ----------------------------------------------------------------------------- a missing parent

SUCCEEDS: dict[str, Callable[[Path], bool]] = {  # what a command that succeeded left in its new --out
    "eval": lambda out: (out / "eval.json").is_file(),
    "predict": lambda out: (out / DETECTION_IMAGE.with_suffix(".jpg").name).is_file(),
    "data audit": lambda out: (out / "audit.json").is_file(),
    "data prepare": lambda out: (out / "prepare.json").is_file(),
    "quantize": lambda out: (out / "sensitivity.json").is_file(),
    "train": lambda out: (out / "best.pt").is_file(),
    "export": lambda out: (out / "mobilenet_v2" / "onnx-fp32" / "manifest.json").is_file(),
    "android sync": lambda out: (out / "app" / "src" / "main" / "assets" / "models"
                                 / "mobilenet_v2-onnx-fp32" / "model.onnx").is_file(),
    "android fixtures": lambda out: (out / "index.json").is_file(),
}


@pytest.mark.parametrize("name", [pytest.param(c, marks=pytest.mark.slow) if c in ("quantize", "train") else c
                                  for c in COMMANDS if c in SUCCEEDS])  # those two take 15-25 s on 2 cores
def test_a_missing_parent_is_created(name, inputs, tmp_path, capsys):
    out = tmp_path / "not" / "yet" / "there"
    if name == "android sync":  # --app must be an Android project; its assets folder is what is missing
        (out / "app" / "src" / "main").mkdir(parents=True)
    result = run_cli(command_line(name, inputs, out), capsys)
    assert result.code == 0 and "Traceback" not in result.text, result.text[-3000:]
    assert SUCCEEDS[name](out), sorted(p.name for p in out.rglob("*"))
    assert not [p for p in out.rglob(".*") if p.name.startswith((".edgekit-write-test", ".export.staging"))]


def test_report_into_a_missing_folder_is_one_line(inputs, tmp_path, capsys):
    result = run_cli(command_line("report", inputs, tmp_path / "not" / "there"), capsys)
    assert_one_error(result, "does not exist")
    assert not (tmp_path / "not").exists()


def test_fixtures_never_replace_a_folder_of_the_users(inputs, tmp_path, capsys):
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine\n")
    before = tree(tmp_path)
    result = run_cli(["android", "fixtures", inputs.export, "--out", mine], capsys)
    assert_one_error(result, "did not write")
    assert tree(tmp_path) == before
