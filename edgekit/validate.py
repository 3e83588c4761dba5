"""Checks the options objects run on their own values (in `__post_init__`): each bad value is one EdgekitError line
that names the option as the command line spells it, says what it must be and what it got.

    count("--eval-size", value)                 an int >= 1 (booleans are not numbers)
    count("--warmup", value, low=0)             an int >= 0
    count("--max-layers", value, optional=True) None, or an int >= 1
    number("--lr", value, positive=True)        a finite float > 0
    number("--max-drop", value, low=0)          a finite float >= 0
    fraction("--val", value)                    a float strictly between 0 and 1
    choice("--method", value, ("minmax", ...))  one of the choices, listed when it is not

Torch-free and tiny: importing an options module costs nothing.
"""
from __future__ import annotations

import math
from typing import Sequence

from edgekit.errors import EdgekitError


def count(name: str, value, *, low: int = 1, high: int | None = None, optional: bool = False,
          why: str = "") -> int | None:
    """`value` as an int in [low, high]; None passes when `optional`. `why` is added to the message."""
    if value is None and optional:
        return None
    tail = f" ({why})" if why else ""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise EdgekitError(f"{name} must be a whole number, got {value!r}{tail}")
    if value < low:
        raise EdgekitError(f"{name} must be at least {low}, got {value}{tail}")
    if high is not None and value > high:
        raise EdgekitError(f"{name} must be at most {high}, got {value}{tail}")
    return value


def number(name: str, value, *, low: float | None = None, high: float | None = None, positive: bool = False,
           optional: bool = False, why: str = "") -> float | None:
    """`value` as a finite float: > 0 when `positive`, else within [low, high]; None passes when `optional`."""
    if value is None and optional:
        return None
    tail = f" ({why})" if why else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EdgekitError(f"{name} must be a number, got {value!r}{tail}")
    value = float(value)
    if not math.isfinite(value):
        raise EdgekitError(f"{name} must be a finite number, got {value}{tail}")
    if positive and not value > 0:
        raise EdgekitError(f"{name} must be greater than 0, got {value:g}{tail}")
    if low is not None and value < low:
        raise EdgekitError(f"{name} must be at least {low:g}, got {value:g}{tail}")
    if high is not None and value > high:
        raise EdgekitError(f"{name} must be at most {high:g}, got {value:g}{tail}")
    return value


def fraction(name: str, value, *, allow_zero: bool = False) -> float:
    """A float in (0, 1), or [0, 1) with `allow_zero`."""
    value = number(name, value)
    if not (0 <= value < 1 if allow_zero else 0 < value < 1):
        span = "[0, 1)" if allow_zero else "between 0 and 1 (exclusive)"
        raise EdgekitError(f"{name} must be a fraction {span}, got {value:g}")
    return value


def choice(name: str, value, choices: Sequence[str]) -> str:
    if value not in choices:
        raise EdgekitError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
