"""The two JSON parsers: strict (:func:`decode_json`) and fast (:func:`parse`).

Both hand every non-integer number over as the ``Decimal`` of its text. The strict
one refuses duplicate keys and numbers out of range itself; the fast one leaves
both to the routes that use it (:mod:`.duplicates`, and the range checks where an
amount or a count is read).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec

from ...errors import ResponseFormatError

__all__ = ["MAX_ADJUSTED_EXPONENT", "decimal", "decode_json", "in_range", "parse"]

# Beyond this many digits of exponent a number is no amount or count but an attack:
# int(Decimal("1E+600000")) alone blocks the event loop for seconds.
MAX_ADJUSTED_EXPONENT = 30


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins: refuse to guess.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("an object has the same key twice")
    return result


def in_range(value: Decimal) -> bool:
    """Whether ``value`` is finite and its exponent within :data:`MAX_ADJUSTED_EXPONENT`."""
    bound = MAX_ADJUSTED_EXPONENT
    return value.is_finite() and -bound <= value.adjusted() <= bound


def decimal(text: str) -> Decimal:
    """The ``Decimal`` of ``text``; ``ValueError`` when it is out of range."""
    value = Decimal(text)
    if not in_range(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _not_json(error: Exception) -> ResponseFormatError:
    """The error for a body a parser refused: the parser's reason, without the parser's error.

    Raise it outside the ``except`` block: the parser's error keeps the whole body
    (contact details included), in its ``.doc`` or its context, and must not stay
    reachable.
    """
    reason = str(error) if isinstance(error, ValueError) else type(error).__name__
    return ResponseFormatError(f"the answer is not valid JSON ({reason})")


def decode_json(body: bytes) -> Any:
    """Parse a body strictly: duplicate keys refused, every non-integer number a ``Decimal``."""
    try:
        return json.loads(
            body,
            parse_float=decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, RecursionError, ArithmeticError) as exc:
        error = _not_json(exc)
    raise error


# Numbers with a fraction or an exponent arrive as the Decimal of their text, at C
# speed; their range is checked where they are used (the amount and count hooks of
# .reference, check_core of .common).
_JSON = msgspec.json.Decoder(float_hook=Decimal)


def parse(body: bytes) -> Any:
    """Parse a body fast: msgspec, non-integer numbers as ``Decimal`` of their text.

    Equal keys are not refused here: :func:`.drift.structure_page` checks for them.
    """
    try:
        return _JSON.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError, ArithmeticError) as exc:
        error = _not_json(exc)
    raise error
