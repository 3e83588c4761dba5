"""The house rules that code review alone does not keep: only edgekit/cli/ draws on the console (imports rich), and
the light entry points load no torch (`edgekit --help` and a mistyped option stay fast; the worker processes of
onnxruntime and LiteRT rows measure their own runtime's memory, not torch's)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgekit"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_module_outside_the_cli_imports_rich():
    """At any depth (a function-level import counts too): the library returns values and reports progress
    through callbacks; drawing is the CLI's job."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if PACKAGE / "cli" in path.parents:
            continue
        rich = sorted(name for name in _imported_modules(path) if name == "rich" or name.startswith("rich."))
        if rich:
            offenders.append(f"{path.relative_to(PACKAGE.parent)}: {', '.join(rich)}")
    assert not offenders, "rich imported outside edgekit/cli/:\n" + "\n".join(offenders)


def test_the_scan_sees_imports_inside_functions(tmp_path):
    """The rule's own check must be able to fail: a function-level `from rich.table import Table` is found."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from rich.table import Table\n    return Table\n")
    assert "rich.table" in _imported_modules(module)


def _light_modules() -> list[str]:
    from edgekit.formats import FORMATS

    return ["edgekit.cli.main", "edgekit.formats", "edgekit.manifest", "edgekit.profile",
            *(f"edgekit.runtime.{name}" for name in FORMATS)]


def test_importing_the_light_modules_loads_no_torch():
    """In a fresh interpreter (the test session has torch loaded), each module imported in turn, torch and its
    stack looked for in sys.modules after each: the first module that loads one is named."""
    code = ("import importlib, json, sys\n"
            "heavy = ('torch', 'torchvision', 'torchao', 'executorch', 'coremltools')\n"
            f"for name in {_light_modules()!r}:\n"
            "    importlib.import_module(name)\n"
            "    loaded = [m for m in heavy if m in sys.modules]\n"
            "    if loaded:\n"
            "        print(json.dumps([name, loaded])); break\n"
            "else:\n"
            "    print(json.dumps(None))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found is None, f"importing {found[0]} loaded {', '.join(found[1])}"


CONTROL_HOOKS = {"on_epoch_end", "on_forced_exit", "on_wait"}  # callbacks that act (stop a run, exit), not report


def _progress_parameters(path: Path) -> list[str]:
    """`name(on_x: annotation)` for every parameter named on_* of every function in `path`, other than the hooks."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            for argument in arguments:
                if argument.arg.startswith("on_") and argument.arg not in CONTROL_HOOKS:
                    annotation = ast.unparse(argument.annotation) if argument.annotation else ""
                    found.append(f"{node.name}({argument.arg}: {annotation})")
    return found


def test_every_stage_reports_progress_one_way():
    """One progress event type (edgekit.progress.Progress): outside the CLI a stage's callback is `on_progress`,
    annotated with OnProgress (no string callback, no (done, total), no per-file hook, no second event class)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if PACKAGE / "cli" in path.parents:
            continue
        for parameter in _progress_parameters(path):
            if "(on_progress: OnProgress" not in parameter:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}: {parameter}")
    assert not offenders, "progress reported another way:\n" + "\n".join(offenders)


def test_the_progress_rule_sees_another_shape(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f(x, *, on_file=None, on_progress: 'Callable[[str], None]' = None):\n    pass\n")
    assert _progress_parameters(module) == ["f(on_file: )", "f(on_progress: 'Callable[[str], None]')"]
