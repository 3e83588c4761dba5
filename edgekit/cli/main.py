"""Entry point: builds the typer app from one module per stage and turns EdgekitError into a clean exit."""
from __future__ import annotations

import sys

import typer
from rich.console import Console

from edgekit.errors import EdgekitError

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
from edgekit.cli import models_cmd, data_cmd, train_cmd, quantize_cmd, export_cmd  # noqa: E402

for stage in (models_cmd, data_cmd, train_cmd, quantize_cmd, export_cmd):
    stage.register(app)


def main() -> None:
    try:
        app(standalone_mode=False)
    except EdgekitError as error:
        # soft_wrap: the terminal may wrap, but no newline lands inside a path or a command to copy
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.Abort,):
        sys.exit(1)
    except Exception as error:  # click usage errors etc.
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise


if __name__ == "__main__":
    main()
