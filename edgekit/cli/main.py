"""Entry point: builds the typer app from one module per stage and turns EdgekitError into a clean exit."""
from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from edgekit.errors import EdgekitError

try:  # typer vendors click (0.29+); older typer uses click itself
    from typer._click.exceptions import ClickException as UsageOrClickError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException as UsageOrClickError

app = typer.Typer(
    name="edgekit",
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
from edgekit.cli import models_cmd, data_cmd, train_cmd, eval_cmd, quantize_cmd, export_cmd, bench_cmd, report_cmd  # noqa: E402

for stage in (models_cmd, data_cmd, train_cmd, eval_cmd, quantize_cmd, export_cmd, bench_cmd, report_cmd):
    stage.register(app)
from edgekit.cli import android_cmd  # noqa: E402
android_cmd.register(app)


def main(args: list[str] | None = None) -> None:
    """Run the CLI: usage errors print the usage hint and one line (exit 2), EdgekitError one line (exit 1)."""
    try:
        code = app(args=args, prog_name="edgekit", standalone_mode=False)
    except EdgekitError as error:
        # soft_wrap: the terminal may wrap, but no newline lands inside a path or a command to copy
        # escaped: a message may hold brackets (pip install 'edgekit[timm]') that rich would take for markup
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except UsageOrClickError as error:
        # typer 0.29 vendors click as typer._click: `import click` would not catch these
        error.show()
        sys.exit(error.exit_code)
    except OSError as error:  # a file system fault no stage anticipated (disk full, a folder gone): one line
        where = f": {error.filename}" if getattr(error, "filename", None) else ""
        err_console.print(f"[bold red]error:[/] {error.strerror or error}{where}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except typer.Abort:
        err_console.print("[yellow]aborted[/]")
        sys.exit(1)
    # without standalone mode, typer returns (not raises) the code of a `typer.Exit` or `--help`
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
