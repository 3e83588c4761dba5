"""Entry point: builds the typer app from one module per stage and turns EdgekitError into a clean exit."""
from __future__ import annotations

import os
import sys
from typing import Callable

import typer
from rich.console import Console
from rich.markup import escape

from edgekit import interrupts
from edgekit.errors import EdgekitError

try:  # typer vendors click (0.29+); older typer uses click itself
    from typer._click.exceptions import ClickException as UsageOrClickError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException as UsageOrClickError
from typer.core import TyperArgument, TyperCommand, TyperGroup


def _conventional(params: list) -> list:
    """Help in the form people know from other tools: an argument reads MODEL (typer 0.29 prints `{model}`) and a
    flag stands bare (typer prints `--fp16 <bool>`). Options with a value keep their type (`--img-size <int>`)."""
    for param in params:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = param.name.upper()
        elif getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


def _usage_pieces(command, ctx) -> list[str]:
    """[OPTIONS] MODEL [IMAGES]...: required arguments bare, optional ones in brackets."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            name = param.display_name_raw + ("..." if param.nargs != 1 else "")
            pieces.append(name if param.required else f"[{name}]")
        else:
            pieces.extend(param.get_usage_pieces(ctx))
    return pieces


class EdgekitCommand(TyperCommand):
    def get_params(self, ctx):
        return _conventional(super().get_params(ctx))

    def collect_usage_pieces(self, ctx) -> list[str]:
        return _usage_pieces(self, ctx)


class EdgekitGroup(TyperGroup):
    def get_params(self, ctx):
        return _conventional(super().get_params(ctx))

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [*_usage_pieces(self, ctx), self.subcommand_metavar]


def _use_conventional_help(typer_app: typer.Typer) -> None:
    """Every command and group of the app (and its sub-apps) built with the classes above."""
    for info in typer_app.registered_commands:
        if info.cls in (None, TyperCommand):  # typer fills in its own class
            info.cls = EdgekitCommand
    for group in typer_app.registered_groups:
        group.typer_instance.info.cls = EdgekitGroup
        _use_conventional_help(group.typer_instance)


app = typer.Typer(
    name="edgekit",
    cls=EdgekitGroup,
    help="Train a lightweight image classifier and ship it to a phone: every artifact checked.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from edgekit import __version__

        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print the edgekit version and exit.")) -> None:
    """Train a lightweight image classifier and ship it to a phone: every artifact checked."""

# each stage module adds its commands to `app`
from edgekit.cli import (models_cmd, data_cmd, train_cmd, eval_cmd, quantize_cmd, export_cmd, bench_cmd,  # noqa: E402
                         profile_cmd, report_cmd)

for stage in (models_cmd, data_cmd, train_cmd, eval_cmd, quantize_cmd, export_cmd, bench_cmd, profile_cmd,
              report_cmd):
    stage.register(app)
from edgekit.cli import android_cmd  # noqa: E402
android_cmd.register(app)
_use_conventional_help(app)


def _say_interrupted_on_fd(fd: int) -> Callable[[], None]:
    """What the interrupt watchdog writes when it has to end the process itself (fd: the terminal's stderr, saved
    before any stage redirects fd 2 to a log)."""
    return lambda: os.write(fd, b"interrupted\n")


def main(args: list[str] | None = None) -> None:
    """Run the CLI: usage errors print the usage hint and one line (exit 2), EdgekitError one line (exit 1),
    Ctrl-C "interrupted" (exit 130, within a second or two even inside a converter: edgekit.interrupts)."""
    try:
        stderr_fd = os.dup(2)
    except OSError:
        stderr_fd = 2
    try:
        with interrupts.handling(_say_interrupted_on_fd(stderr_fd)):
            code = _run(args)
    except KeyboardInterrupt:  # raised after the command's own clean-up (a critical block ending, say)
        interrupts.note()
        code = interrupts.EXIT_CODE
    finally:
        if stderr_fd != 2:
            os.close(stderr_fd)
    if code == interrupts.EXIT_CODE and interrupts.interrupted():
        # typer turns KeyboardInterrupt into a silent exit 130 (typer.core._main): say it
        err_console.print("[yellow]interrupted[/]", highlight=False)
        if interrupts.signalled():
            # the command has cleaned up (its finally blocks ran); tearing down torch, TensorFlow and the runtimes
            # would take seconds more on a busy machine, so a Ctrl-C ends the process here
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(code)
    sys.exit(code)


def _run(args: list[str] | None) -> int:
    try:
        code = app(args=args, prog_name="edgekit", standalone_mode=False)
    except EdgekitError as error:
        # soft_wrap: the terminal may wrap, but no newline lands inside a path or a command to copy
        # escaped: a message may hold brackets (pip install 'edgekit[timm]') that rich would take for markup
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        return error.exit_code
    except UsageOrClickError as error:
        # typer 0.29 vendors click as typer._click: `import click` would not catch these
        error.show()
        return error.exit_code
    except OSError as error:  # a file system fault no stage anticipated (disk full, a folder gone): one line
        where = f": {error.filename}" if getattr(error, "filename", None) else ""
        err_console.print(f"[bold red]error:[/] {error.strerror or error}{where}", highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        interrupts.note()
        return interrupts.EXIT_CODE
    except typer.Abort:
        err_console.print("[yellow]aborted[/]")
        return 1
    # without standalone mode, typer returns (not raises) the code of a `typer.Exit` or `--help`
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    main()
