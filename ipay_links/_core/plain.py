"""Plain data: every object the project writes, as JSON-ready values, and back.

One cattrs converter, built once at import, for whatever the project saves or prints:
a :class:`~ipay_links.PayoutLink` in an export, a :class:`~ipay_links.Page` for
``ipay-links page``, a :class:`~ipay_links.Checkpoint`, the command line's checkpoint
file. :func:`to_plain` turns one into plain data, :func:`from_plain` reads it back.

- attrs classes become dicts of their snake_case field names, in field order; nested
  ones nest; ``None`` stays ``None``. Tuples and other sequences become lists.
- A :class:`~ipay_links.LinkStatus` becomes its string; a status the library does not
  know is already the server's string, and stays it.
- ``Decimal`` stays ``Decimal``, to be written with its exact digits
  (``msgspec.json.Encoder(decimal_format="number")``), never through ``float``.
- Datetimes become ISO 8601 strings with their offset.

This is not InstantPay's wire form (camelCase, datetimes without a zone): that is
``_codec.py``'s. Reading back keeps cattrs' own conversions of the basic types (as
:meth:`Checkpoint.from_dict` always did: ``"4"`` for an int is 4) and ignores keys it
does not know, except for a class marked with :func:`refuse_unknown_keys`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn
from cattrs.v import format_exception

from ..models import LinkStatus

__all__ = ["InvalidValue", "from_plain", "refuse_unknown_keys", "to_plain"]

T = TypeVar("T")
C = TypeVar("C", bound=type)

_KNOWN_STATUSES = {member.value: member for member in LinkStatus}


class InvalidValue(ValueError):
    """A value a hook or a validator refuses; its text says why, and is shown as it is."""


def _decimal(value: object, _: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidValue(f"expected a decimal number, got {type(value).__name__}")
    try:
        # str() of a float is its shortest repr: the digits it was written with.
        result = Decimal(str(value) if isinstance(value, float) else value)
    except ArithmeticError:
        raise InvalidValue(f"{value!r} is not a decimal number") from None
    if not result.is_finite():
        raise InvalidValue(f"{value!r} is not a finite number")
    return result


def _datetime(value: object, _: object) -> datetime:
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, str):
        try:
            result = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidValue(f"{value!r} is not an ISO 8601 datetime") from None
    else:
        raise InvalidValue(f"expected an ISO 8601 datetime, got {type(value).__name__}")
    if result.tzinfo is None:
        raise InvalidValue(f"{value!r} has no UTC offset")
    return result


def _status(value: object, _: object) -> LinkStatus | str:
    if not isinstance(value, str):
        raise InvalidValue(f"expected a status string, got {type(value).__name__}")
    return _KNOWN_STATUSES.get(value, value)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    # LinkStatus is a StrEnum: str() is its value, and an unknown status is a str already.
    converter.register_unstructure_hook(LinkStatus, str)
    converter.register_structure_hook(Decimal, _decimal)
    converter.register_structure_hook(datetime, _datetime)
    converter.register_structure_hook(LinkStatus | str, _status)
    return converter


_CONVERTER = _make_converter()


def to_plain(obj: object) -> Any:
    """``obj`` as dicts, lists, strings, numbers (``Decimal`` kept), booleans and ``None``."""
    return _CONVERTER.unstructure(obj)


def from_plain(data: object, cls: type[T]) -> T:
    """The ``cls`` that :func:`to_plain` wrote as ``data``.

    Raises ``ValueError`` naming each field that is missing or wrong, by its path
    (``not a checkpoint: required field missing @ $.query``).
    """
    what = _words(getattr(cls, "__name__", str(cls)))
    if attrs.has(cls) and not isinstance(data, Mapping):
        raise ValueError(f"not {what}: expected a JSON object, got {type(data).__name__}")
    try:
        return _CONVERTER.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, format_exception=_describe)
    except (KeyError, TypeError, ValueError) as exc:  # a top-level value, not an attrs class
        problems = [_describe(exc, None)]
    raise ValueError(f"not {what}: {'; '.join(problems)}")


def refuse_unknown_keys(cls: C) -> C:
    """Mark an attrs class of the project's own files: a key it does not know is refused."""
    _CONVERTER.register_structure_hook(
        cls, make_dict_structure_fn(cls, _CONVERTER, _cattrs_forbid_extra_keys=True)
    )
    return cls


def _describe(exc: BaseException, type_: type | None) -> str:
    return str(exc) if isinstance(exc, InvalidValue) else format_exception(exc, type_)


def _words(name: str) -> str:
    """``PayoutLink`` -> ``a payout link``, ``int`` -> ``an int``."""
    words = "".join(f" {char}" if char.isupper() else char for char in name).strip().lower()
    return f"{'an' if words.startswith(tuple('aeiou')) else 'a'} {words}"
