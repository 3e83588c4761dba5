"""Placeholder until this stage lands."""
import typer


def register(app: typer.Typer) -> None:
    pass
