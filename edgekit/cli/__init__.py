"""The `edgekit` command: a thin typer layer over the Python API, one module per stage."""
