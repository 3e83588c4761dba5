"""The one exception type a user sees: the CLI prints its message and exits non-zero, no traceback."""
from __future__ import annotations


class EdgekitError(Exception):
    """A problem with the user's input or environment, explained in plain words."""

    exit_code = 1
