"""Checks of the numbers callers pass in: one rule and one wording for every argument."""

from __future__ import annotations

import math

__all__ = ["check_finite", "check_number", "check_positive"]


def check_number(
    name: str, value: object, minimum: float, *, whole: bool = False, inclusive: bool = True
) -> float:
    """Return ``value`` if it is a number (an int when ``whole``) of at least ``minimum``.

    With ``inclusive=False`` it must be above ``minimum``. Raises ``TypeError`` or
    ``ValueError`` naming ``name``; ``bool`` is never a number here.
    """
    kind = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kind):
        article = "an int" if whole else "a number"
        raise TypeError(f"{name} must be {article}, not {type(value).__name__}")
    if not whole and math.isnan(value):
        raise ValueError(f"{name} must be a number, got nan")
    if inclusive and not value >= minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if not inclusive and not value > minimum:
        raise ValueError(f"{name} must be a positive number, got {value}")
    return value


def check_finite(name: str, value: object, minimum: float) -> float:
    """:func:`check_number`, and not infinite."""
    number = check_number(name, value, minimum)
    if math.isinf(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return number


def check_positive(name: str, value: object) -> int:
    """Return ``value`` if it is an int of 1 or more, else raise naming ``name``."""
    return int(check_number(name, value, 1, whole=True))
