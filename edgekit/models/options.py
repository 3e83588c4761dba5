"""Validation of builder options at the edge: a bad value is an EdgekitError that names the allowed values."""
from __future__ import annotations

from edgekit.errors import EdgekitError


def check_range(model: str, option: str, value: float, low: float, high: float) -> float:
    """`value` as a float, or an EdgekitError naming the closed range [low, high]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EdgekitError(f"{model}: {option} must be a number in {low}–{high}, got {value!r}") from None
    if not low <= number <= high:
        raise EdgekitError(f"{model}: {option} must be in {low}–{high}, got {value!r}")
    return number


def check_choice(model: str, option: str, value, choices: tuple) -> float | int:
    """`value` if it equals one of `choices` (numerically), else an EdgekitError listing them."""
    for choice in choices:
        try:
            if float(value) == float(choice):
                return choice
        except (TypeError, ValueError):
            break
    allowed = ", ".join(str(c) for c in choices)
    raise EdgekitError(f"{model}: {option} must be one of {allowed}, got {value!r}")


def check_dropout(model: str, value: float) -> float:
    return check_range(model, "dropout", value, 0.0, 0.99)


def round_channels(channels: float, divisor: int = 8) -> int:
    """Round a scaled channel count to a multiple of `divisor`, never more than 10 % below it.

    The usual rule of the MobileNet reference code (so widths stay hardware friendly).
    """
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return rounded
