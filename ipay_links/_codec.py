"""The one private cattrs converter: wire JSON <-> the models.

camelCase on the wire, snake_case in Python; exact ``Decimal`` money; datetimes
in Indian time. Tolerant where InstantPay documents nothing (optional fields
that are null, missing or unparseable become ``None``), strict where a walk
would otherwise go wrong (``linkId``, ``status`` and ``amount`` are required).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .errors import ResponseFormatError
from .models import ContactDetails, LinkStatus, Page, PageMeta, PayoutLink

__all__ = [
    "IST",
    "decode_json",
    "envelope_details",
    "make_converter",
    "structure_page",
    "unstructure_link",
]

# InstantPay writes "YYYY-MM-DD HH:MM:SS" with no zone, in Indian time (see
# instantpay-facts.md). India has kept +05:30 without daylight saving since 1945,
# so a fixed offset is exact and much cheaper than a ZoneInfo lookup.
IST = timezone(timedelta(hours=5, minutes=30), "IST")

_KNOWN_STATUSES = {member.value: member for member in LinkStatus}
# Required fields of a record, by wire name (the foundation issue's tolerance rules).
_REQUIRED = ("linkId", "status", "amount")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins: refuse to guess.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("an object has the same key twice")
    return result


# Beyond this many digits of exponent a number is no amount or count but an attack:
# int(Decimal("1E+600000")) alone blocks the event loop for seconds.
_MAX_ADJUSTED_EXPONENT = 30


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if not -_MAX_ADJUSTED_EXPONENT <= value.adjusted() <= _MAX_ADJUSTED_EXPONENT:
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def decode_json(body: bytes) -> Any:
    """Parse a body as JSON, with every non-integer number as the ``Decimal`` of its text."""
    try:
        return json.loads(
            body,
            parse_float=_decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, RecursionError, ArithmeticError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
    # Raised outside the except block: the parser's error keeps the whole body
    # (contact details included) in its .doc, and must not stay reachable.
    raise ResponseFormatError(f"the answer is not valid JSON ({reason})")


def _amount(value: object, _: object) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    elif isinstance(value, str) and "_" not in value:
        result = _decimal(value.strip())
    else:
        raise TypeError(f"amount is {type(value).__name__}, not a number")
    if not result.is_finite():
        raise ValueError("amount is not a finite number")
    return result


def _required_str(value: object, _: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("not a non-empty string")
    return value


def _link_status(value: object, _: object) -> LinkStatus | str:
    text = _required_str(value, None)
    return _KNOWN_STATUSES.get(text, text)


def _is_whole(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().isdigit()
    return isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()


def _count(value: object, _: object) -> int:
    if isinstance(value, bool):
        raise TypeError("a count is not a boolean")
    if isinstance(value, int):
        result = value
    elif _is_whole(value):
        result = int(value)  # type: ignore[call-overload]  # str or Decimal, checked
    else:
        raise TypeError("not a whole number")
    if result < 0:
        raise ValueError("a count is negative")
    return result


def _optional_count(value: object, _: object) -> int | None:
    try:
        return _count(value, None)
    except (TypeError, ValueError):
        return None


def _optional_str(value: object, _: object) -> str | None:
    if isinstance(value, str):
        return value
    # A mobile number sent as a JSON number is still the mobile number.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _optional_bool(value: object, _: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _optional_datetime(value: object, _: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=IST)
        return parsed.astimezone(IST)
    except (ValueError, OverflowError):  # "0000-00-00 00:00:00", year 1 in another zone
        return None


def _string_tuple(value: object, _: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def make_converter(*, forbid_extra_keys: bool = False) -> cattrs.Converter:
    """Build the converter; ``forbid_extra_keys`` is for the project's own drift tests."""
    converter = cattrs.Converter(detailed_validation=False)
    hooks: dict[Any, Callable[[Any, Any], Any]] = {
        Decimal: _amount,
        int: _count,
        int | None: _optional_count,
        str: _required_str,
        str | None: _optional_str,
        bool | None: _optional_bool,
        datetime | None: _optional_datetime,
        LinkStatus | str: _link_status,
    }
    for type_, hook in hooks.items():
        converter.register_structure_hook(type_, hook)
    # A generic alias is no class for singledispatch: match it by equality.
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _string_tuple)

    contact_hook = make_dict_structure_fn(
        ContactDetails, converter, _cattrs_forbid_extra_keys=forbid_extra_keys
    )

    def optional_contact(value: object, _: object) -> ContactDetails | None:
        return contact_hook(value, ContactDetails) if isinstance(value, Mapping) else None

    converter.register_structure_hook(ContactDetails | None, optional_contact)
    for cls in (PayoutLink, PageMeta):
        renames: dict[str, Any] = {
            field.name: override(rename=_camel(field.name)) for field in attrs.fields(cls)
        }
        converter.register_structure_hook(
            cls,
            make_dict_structure_fn(
                cls, converter, _cattrs_forbid_extra_keys=forbid_extra_keys, **renames
            ),
        )
    return converter


_CONVERTER = make_converter()


def _diagnose(record: object) -> str:
    """Say which required field of a record that failed to structure is at fault."""
    if not isinstance(record, Mapping):
        return f" is a JSON {type(record).__name__}, not an object"
    for name in _REQUIRED:
        if record.get(name) is None:
            return f": {name!r} is missing or null"
    try:
        _amount(record["amount"], None)
    except (TypeError, ValueError, ArithmeticError):
        return ": 'amount' is not a finite decimal number"
    for name in ("linkId", "status"):
        if not isinstance(record[name], str) or not record[name]:
            return f": {name!r} is not a non-empty string"
    return " could not be read"


def structure_page(
    data: object,
    envelope: Mapping[str, Any],
    *,
    page: int,
    converter: cattrs.Converter = _CONVERTER,
) -> Page:
    """Structure a TXN envelope's ``data`` into a :class:`Page` of links."""
    if not isinstance(data, Mapping):
        raise ResponseFormatError(f"page {page}: 'data' is not an object")
    try:
        meta = converter.structure(data["meta"], PageMeta)
    except Exception:  # noqa: BLE001  # any failure on untrusted input is a format error
        raise ResponseFormatError(
            f"page {page}: 'meta' is missing or not the documented shape"
        ) from None
    raw_records = data.get("records")
    if raw_records is None:
        raw_records = []
    if not isinstance(raw_records, list):
        raise ResponseFormatError(f"page {page}: 'records' is not a list")
    records = []
    for index, raw in enumerate(raw_records, start=1):
        try:
            records.append(converter.structure(raw, PayoutLink))
        except Exception:  # noqa: BLE001  # _diagnose names the field at fault
            raise ResponseFormatError(
                f"page {page}: record {index}{_diagnose(raw)}",
                ipay_uuid=_optional_str(envelope.get("ipay_uuid"), None),
            ) from None
    return Page(meta=meta, records=tuple(records), **envelope_details(envelope))


def envelope_details(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope fields a :class:`Page` keeps: ``ipay_uuid``, ``timestamp``, ``environment``."""
    return {
        "ipay_uuid": _optional_str(envelope.get("ipay_uuid"), None),
        "timestamp": _optional_datetime(envelope.get("timestamp"), None),
        "environment": _optional_str(envelope.get("environment"), None),
    }


def _plain(_instance: object, _field: object, value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def unstructure_link(link: PayoutLink) -> dict[str, Any]:
    """A link as a plain dict with snake_case keys; ``amount`` stays ``Decimal``."""
    return attrs.asdict(link, value_serializer=_plain)
