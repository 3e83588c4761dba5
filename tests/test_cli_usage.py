"""Usage errors through the real entry point: the usage hint and one clear line, exit 2, no traceback.

typer 0.29 vendors click as `typer._click`, so catching `click.ClickException` caught nothing and
every usage error printed a traceback. The command tree is walked from the app itself, so a
command added later is covered without editing this file. Most cases call `edgekit.cli.main.main`
(the function the `edgekit` script runs) in-process; a few go through a real subprocess.
"""
from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pytest
import typer

from edgekit.cli.main import app, main


def _leaf_commands() -> list[tuple[list[str], object]]:
    found = []

    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found.append((path, command))

    walk(typer.main.get_command(app), [])
    return found


LEAVES = _leaf_commands()
GROUPS = [[], ["data"], ["models"]]


def _numeric_options() -> list[tuple[list[str], str, str, int]]:
    """(command path, option, type name, values it takes) for every int/float option of every command."""
    cases = []
    for path, command in LEAVES:
        for param in command.params:
            annotation = param.type_descriptor.annotation
            kinds = {a for a in (typing.get_args(annotation) or (annotation,)) if a in (int, float)}
            if kinds and getattr(param, "opts", None) and param.opts[0].startswith("--"):
                cases.append((path, param.opts[0], next(iter(kinds)).__name__, max(1, param.nargs)))
    return cases


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(args)
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


def assert_usage_error(code: int, out: str, err: str, command: list[str], needle: str) -> None:
    text = out + err
    assert code == 2, f"exit {code} for {command}: {text}"
    assert "Traceback" not in text, text
    assert f"Usage: edgekit {' '.join(command)}".rstrip() in text, text
    assert f"Try 'edgekit {' '.join(command)} --help'".replace("  ", " ") in text.replace("  ", " "), text
    error_lines = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, text
    assert needle in error_lines[0], text


def test_the_walk_finds_every_stage():
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"train", "eval", "predict", "export", "quantize", "data audit", "data prepare", "models list"} <= names


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=lambda p: " ".join(p))
def test_unknown_option(path, capsys):
    code, out, err = run_main([*path, "--no-such-option"], capsys)
    assert_usage_error(code, out, err, path, "No such option: --no-such-option")


@pytest.mark.parametrize("path", [p for p, c in LEAVES if any(getattr(q, "required", False) for q in c.params)],
                         ids=lambda p: " ".join(p))
def test_missing_argument(path, capsys):
    code, out, err = run_main(list(path), capsys)
    assert_usage_error(code, out, err, path, "Missing argument")


@pytest.mark.parametrize("path,option,kind,nargs", _numeric_options(),
                         ids=lambda v: v if isinstance(v, str) else " ".join(v) if isinstance(v, list) else str(v))
def test_value_of_the_wrong_type(path, option, kind, nargs, capsys):
    # the required argument first, so the option's value is what fails
    command = next(c for p, c in LEAVES if p == path)
    arguments = ["x"] * sum(1 for q in command.params if getattr(q, "required", False))
    code, out, err = run_main([*path, *arguments, option, *["lots"] * nargs], capsys)
    assert_usage_error(code, out, err, path, f"Invalid value for '{option}'")
    assert f"valid {'integer' if kind == 'int' else 'number'}" in err


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: " ".join(g) or "edgekit")
def test_unknown_command(group, capsys):
    code, out, err = run_main([*group, "frobnicate"], capsys)
    assert_usage_error(code, out, err, group, "No such command 'frobnicate'")


def test_help_and_version_exit_zero(capsys):
    assert run_main(["--help"], capsys)[0] == 0
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0 and out.startswith("edgekit ")


def test_edgekit_error_is_one_line_exit_1(capsys, tmp_path: Path):
    code, out, err = run_main(["eval", str(tmp_path / "missing.pt")], capsys)
    assert code == 1
    assert "Traceback" not in out + err
    assert err.startswith("error:") and "not found" in err


@pytest.mark.parametrize("args,needle", [
    (["train", "mobilenet_v2", "--epochs", "abc"], "Invalid value for '--epochs'"),
    (["export", "mobilenet_v2", "--max-drop", "lots"], "Invalid value for '--max-drop'"),
    (["frobnicate"], "No such command 'frobnicate'"),
])
def test_through_a_real_process(args, needle):
    done = subprocess.run([sys.executable, "-m", "edgekit.cli.main", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert needle in done.stderr
    assert "Usage: edgekit" in done.stderr
