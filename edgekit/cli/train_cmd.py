"""Placeholder until this stage lands (filled in by its own issue)."""
import typer


def register(app: typer.Typer) -> None:
    pass
