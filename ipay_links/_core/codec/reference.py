"""The reference: one cattrs hook per field, the rules every route must equal.

Tolerant where InstantPay documents nothing (optional fields that are null, missing
or unparseable become ``None``), strict where a walk would otherwise go wrong
(``linkId``, ``status`` and ``amount`` are required); README.md, "What you get",
states the rules for users. The fast routes (:mod:`.fast`, :mod:`.drift`) build
the same links quicker and hand every record they cannot take to
:data:`reference_link`; the meta of every page is built here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ...models import ContactDetails, LinkStatus, PageMeta, PayoutLink
from .parsers import decimal, in_range

__all__ = [
    "CONVERTER",
    "IST",
    "KNOWN_STATUSES",
    "amount",
    "camel",
    "envelope_details",
    "make_converter",
    "optional_datetime",
    "optional_str",
    "reference_link",
]

# InstantPay writes "YYYY-MM-DD HH:MM:SS" with no zone, in Indian time (README.md,
# "What you get"). India has kept +05:30 without daylight saving since 1945, so a
# fixed offset is exact and much cheaper than a ZoneInfo lookup.
IST = timezone(timedelta(hours=5, minutes=30))

KNOWN_STATUSES = {member.value: member for member in LinkStatus}


def camel(name: str) -> str:
    """The wire name of a model field: ``qr_url`` is ``qrUrl``."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def amount(value: object, _: object) -> Decimal:
    """An amount: a number, or a string of one, within the reference bounds."""
    if isinstance(value, Decimal):
        result = value
        if not in_range(value):
            raise ValueError("amount is out of range")
    elif isinstance(value, int) and not isinstance(value, bool):
        result = decimal(str(value))
    elif isinstance(value, str) and "_" not in value:
        result = decimal(value.strip())
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
    return KNOWN_STATUSES.get(text, text)


def _is_whole(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().isdigit()
    return isinstance(value, Decimal) and in_range(value) and value == value.to_integral_value()


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


def optional_str(value: object, _: object) -> str | None:
    """A string, or a whole number as its digits; ``None`` for anything else."""
    if isinstance(value, str):
        return value
    # A mobile number sent as a JSON number is still the mobile number.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _optional_bool(value: object, _: object) -> bool | None:
    return value if isinstance(value, bool) else None


def optional_datetime(value: object, _: object) -> datetime | None:
    """An ISO datetime in Indian time (no zone means Indian time); ``None`` if unreadable."""
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
    """Build the reference converter; ``forbid_extra_keys`` is for the project's own drift tests."""
    converter = cattrs.Converter(detailed_validation=False)
    hooks: dict[Any, Callable[[Any, Any], Any]] = {
        Decimal: amount,
        int: _count,
        int | None: _optional_count,
        str: _required_str,
        str | None: optional_str,
        bool | None: _optional_bool,
        datetime | None: optional_datetime,
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
            field.name: override(rename=camel(field.name)) for field in attrs.fields(cls)
        }
        converter.register_structure_hook(
            cls,
            make_dict_structure_fn(
                cls, converter, _cattrs_forbid_extra_keys=forbid_extra_keys, **renames
            ),
        )
    return converter


CONVERTER = make_converter()
reference_link: Callable[[Any, Any], PayoutLink] = CONVERTER.get_structure_hook(PayoutLink)


def envelope_details(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope fields a :class:`Page` keeps: ``ipay_uuid``, ``timestamp``, ``environment``."""
    return {
        "ipay_uuid": optional_str(envelope.get("ipay_uuid"), None),
        "timestamp": optional_datetime(envelope.get("timestamp"), None),
        "environment": optional_str(envelope.get("environment"), None),
    }
