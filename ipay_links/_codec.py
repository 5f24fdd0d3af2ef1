"""The one private cattrs converter: wire JSON <-> the models.

camelCase on the wire, snake_case in Python; exact ``Decimal`` money; datetimes
in Indian time. Tolerant where InstantPay documents nothing (optional fields
that are null, missing or unparseable become ``None``), strict where a walk
would otherwise go wrong (``linkId``, ``status`` and ``amount`` are required).

Two paths, one meaning:

- The *reference*: cattrs-generated hooks, one per field. It defines the rules.
- The *fast path*, for whole pages: msgspec parses (handing every non-integer
  number over as the text it was written with, for ``Decimal``), and one
  hand-specialised function (:func:`_common_link`) builds a record in the common
  shape in a single call. A record it cannot take goes to the reference hooks, so
  the rules live in one place; the test suite checks on thousands of generated
  and edge records that both paths build identical links.
- The fast path comes in two steps. First msgspec decodes the page into untracked
  wire structs (:func:`typed_page`), with no dict per record; a page it cannot
  take whole (another statuscode, an odd record, a key the structs do not know)
  is parsed again into dicts, each record then taking the common shape or the
  reference hooks.
- msgspec keeps the last of two equal keys. Every ``"`` byte of a body delimits a
  string (a key or a value) or is escaped inside one, so a body without duplicate
  keys has at least twice as many ``"`` as the strings read from it, and exactly
  twice as many when nothing is escaped. The strings are counted as the page is
  structured; on any difference the body goes through the standard library's
  parser, which refuses duplicate keys. White space or escapes cannot hide a
  duplicate: they only make the count of ``"`` larger.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any

import attrs
import cattrs
import msgspec
from cattrs.gen import make_dict_structure_fn, override
from msgspec import UNSET, UnsetType

from .errors import ResponseFormatError
from .models import ContactDetails, LinkStatus, Page, PageMeta, PayoutLink

__all__ = [
    "IST",
    "decode_json",
    "envelope_details",
    "make_converter",
    "no_gc_pauses",
    "parse",
    "structure_page",
    "typed_page",
]

# InstantPay writes "YYYY-MM-DD HH:MM:SS" with no zone, in Indian time (see
# instantpay-facts.md). India has kept +05:30 without daylight saving since 1945,
# so a fixed offset is exact and much cheaper than a ZoneInfo lookup.
IST = timezone(timedelta(hours=5, minutes=30))

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


def _in_range(value: Decimal) -> bool:
    bound = _MAX_ADJUSTED_EXPONENT
    return value.is_finite() and -bound <= value.adjusted() <= bound


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if not _in_range(value):
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
        if not _in_range(value):
            raise ValueError("amount is out of range")
    elif isinstance(value, int) and not isinstance(value, bool):
        result = _decimal(str(value))
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
    return isinstance(value, Decimal) and _in_range(value) and value == value.to_integral_value()


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
_reference_link: Callable[[Any, Any], PayoutLink] = _CONVERTER.get_structure_hook(PayoutLink)
_fromisoformat = datetime.fromisoformat
# The wire names of PayoutLink's fields, in their order.
_FIELD_NAMES = tuple(_camel(field.name) for field in attrs.fields(PayoutLink))
_LINK_FIELDS = itemgetter(*_FIELD_NAMES)
_CONTACT_KEYS = ("name", "email", "mobile")
_CONTACT_FIELDS = itemgetter(*_CONTACT_KEYS)


class _Unusual(Exception):
    """A record the fast hook leaves to the reference hooks."""


def _tokens(value: object, skip: object = None) -> int:
    """The JSON strings ``value`` was written with: its keys and string values, nested.

    Values that are ``skip`` count for nothing. A loop, not recursion: any depth the
    parser accepted is counted without a ``RecursionError``.
    """
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if item is skip:
            continue
        if isinstance(item, str):
            count += 1
        elif isinstance(item, dict):
            count += len(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count


def _fast_link(raw: Any, tally: list[int]) -> PayoutLink:
    """The ``PayoutLink`` hook of page decoding over parsed dicts: the reference rules, fast.

    A record in the common shape is built by :func:`_common_link`; any other record
    goes to the reference hooks, which apply the tolerance rules or raise.
    """
    try:
        if len(raw) == len(_FIELD_NAMES):
            contact = raw["contactDetails"]
            if contact is None or len(contact) == len(_CONTACT_KEYS):
                return _common_link(_LINK_FIELDS(raw), _CONTACT_FIELDS, tally)
        # Keys the models do not know: the links are the same, the strings are more.
        link = _common_link(_LINK_FIELDS(raw), _CONTACT_FIELDS, [0])
        tally[0] += _tokens(raw)
        return link
    except Exception:  # noqa: BLE001  # _Unusual, a missing key, an odd type: the rules decide
        tally[0] += _tokens(raw)
        return _reference_link(raw, PayoutLink)


def _common_link(
    values: tuple[Any, ...], contact_fields: Callable[[Any], tuple[Any, ...]], tally: list[int]
) -> PayoutLink:
    """A link from the values of a record in the common shape; raise for any other.

    The common shape: every field present, strings or nulls where strings go, a
    number for ``amount``, "YYYY-MM-DD HH:MM:SS" datetimes. ``values`` are the
    record's values in the order of :data:`_FIELD_NAMES`; ``contact_fields`` reads
    the name, email and mobile of its contact. The strings the record was written
    with (for the duplicate-key check) are added to ``tally[0]`` once it is built.
    """
    (
        link_id,
        status,
        amount,
        purpose,
        description,
        contact,
        reference_no,
        order_id,
        url,
        qr_url,
        modes,
        verify,
        activated,
        expired,
    ) = values
    if amount.__class__ is int and -_BIG < amount < _BIG:  # whole rupees
        amount = Decimal(amount)
    if (
        link_id.__class__ is not str
        or not link_id
        or status.__class__ is not str
        or not status
        or amount.__class__ is not Decimal
        or not -_MAX_ADJUSTED_EXPONENT <= amount.adjusted() <= _MAX_ADJUSTED_EXPONENT
        or modes.__class__ is not list
        or (purpose.__class__ is not str and purpose is not None)
        or (description.__class__ is not str and description is not None)
        or (reference_no.__class__ is not str and reference_no is not None)
        or (order_id.__class__ is not str and order_id is not None)
        or (url.__class__ is not str and url is not None)
        or (qr_url.__class__ is not str and qr_url is not None)
        or (activated.__class__ is not str and activated is not None)
        or (expired.__class__ is not str and expired is not None)
        or (verify.__class__ is not bool and verify is not None)
    ):
        raise _Unusual
    for mode in modes:
        if mode.__class__ is not str:
            raise _Unusual
    # The strings of the record: its keys, linkId, status, the modes and every string
    # value that is not null.
    tokens = len(_FIELD_NAMES) + 2 + len(modes)
    tokens += (purpose is not None) + (description is not None)
    tokens += (reference_no is not None) + (order_id is not None)
    tokens += (url is not None) + (qr_url is not None)
    tokens += (activated is not None) + (expired is not None)
    if contact is not None:
        name, email, mobile = contact_fields(contact)
        if (
            (name.__class__ is not str and name is not None)
            or (email.__class__ is not str and email is not None)
            or (mobile.__class__ is not str and mobile is not None)
        ):
            raise _Unusual
        contact = ContactDetails(name, email, mobile)
        tokens += 3 + (name is not None) + (email is not None) + (mobile is not None)
    if activated is not None:
        activated = (
            _fromisoformat(activated + "+05:30")
            if len(activated) == 19
            else _optional_datetime(activated, None)
        )
    if expired is not None:
        expired = (
            _fromisoformat(expired + "+05:30")
            if len(expired) == 19
            else _optional_datetime(expired, None)
        )
    link = PayoutLink(
        link_id,
        _KNOWN_STATUSES.get(status, status),
        amount,
        purpose,
        description,
        contact,
        reference_no,
        order_id,
        url,
        qr_url,
        tuple(modes),
        verify if verify is True or verify is False else None,
        activated,
        expired,
    )
    tally[0] += tokens
    return link


# Whole numbers of rupees below this are exact Decimals at once (the reference bounds).
_BIG = 10**_MAX_ADJUSTED_EXPONENT

# Numbers with a fraction or an exponent arrive as the Decimal of their text, at C
# speed; their range is checked where they are used (_amount, _count, _fast_link).
_JSON = msgspec.json.Decoder(float_hook=Decimal)


# -- the typed wire path -----------------------------------------------------------
# msgspec decodes a page straight into these untracked (gc=False) structs: no dict
# per record, nothing for the cyclic collector to look over, and under half the
# time of parsing to dicts. Every field is ``Any`` (or a nested struct), absent is
# UNSET, unknown keys are skipped: the rules stay in _common_link.


class _WireContact(msgspec.Struct, gc=False):
    name: Any = UNSET
    email: Any = UNSET
    mobile: Any = UNSET


_WireRecord = msgspec.defstruct(
    "_WireRecord",
    [
        (name, _WireContact | None | UnsetType if name == "contactDetails" else Any, UNSET)
        for name in _FIELD_NAMES
    ],
    gc=False,
)


class _WireData(msgspec.Struct, gc=False):
    meta: Any = UNSET
    records: list[_WireRecord] | UnsetType | None = UNSET  # type: ignore[valid-type]


class _WireEnvelope(msgspec.Struct, gc=False):
    statuscode: Any = UNSET
    actcode: Any = UNSET
    status: Any = UNSET
    data: _WireData | UnsetType | None = UNSET
    timestamp: Any = UNSET
    ipay_uuid: Any = UNSET
    orderid: Any = UNSET
    environment: Any = UNSET
    internalCode: Any = UNSET  # InstantPay's own key


_TYPED = msgspec.json.Decoder(_WireEnvelope, float_hook=Decimal)
_WIRE_LINK_FIELDS = attrgetter(*_FIELD_NAMES)
_WIRE_CONTACT_FIELDS = attrgetter(*_CONTACT_KEYS)
# Every field of the envelope but ``data``, whose strings typed_page counts itself.
_ENVELOPE_SCALARS = attrgetter(*(f for f in _WireEnvelope.__struct_fields__ if f != "data"))


def typed_page(body: bytes, *, page: int) -> Page | None:
    """A TXN page whose every link is in the common shape, straight from the wire structs.

    ``None`` for anything else (another statuscode, an odd shape or record, keys the
    structs do not know, a duplicate key, an escaped quote): the general path of
    :func:`parse` and :func:`structure_page` then decides, with the same result.
    """
    try:
        envelope = _TYPED.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError, ArithmeticError):
        return None
    data = envelope.data
    if envelope.statuscode != "TXN" or data is None or data is UNSET:
        return None
    raw_records = data.records
    tally = [0]
    try:
        if raw_records is None or raw_records is UNSET:
            records: list[PayoutLink] = []
        else:
            records = [
                _common_link(_WIRE_LINK_FIELDS(raw), _WIRE_CONTACT_FIELDS, tally)
                for raw in raw_records
            ]
        meta = _CONVERTER.structure(data.meta, PageMeta)
    except Exception:  # noqa: BLE001  # an unusual record or meta: the general path decides
        return None
    # The records' strings, the keys "data", "meta" and "records", the strings of meta
    # and of the envelope's other fields.
    strings = tally[0] + 1 + (data.meta is not UNSET) + (raw_records is not UNSET)
    strings += _tokens(data.meta, skip=UNSET)
    for value in _ENVELOPE_SCALARS(envelope):
        if value is not UNSET:
            strings += 1 + _tokens(value)
    # As in structure_page: only a body with exactly twice as many '"' as the strings
    # read has no key the structs skipped and no duplicate.
    if 2 * strings != body.count(b'"'):
        return None
    details = {name: getattr(envelope, name) for name in _ENVELOPE_DETAILS}
    return Page(meta=meta, records=tuple(records), **envelope_details(details))


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """Hold the cyclic garbage collector while a page turns into links.

    A page of 1,000 links makes some 5,000 container objects at once, none of them
    garbage; the collector would otherwise run dozens of times over them for
    nothing (a third of a walk's time, measured). It runs as usual afterwards.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse(body: bytes) -> Any:
    """Parse a body fast: msgspec, non-integer numbers as ``Decimal`` of their text.

    Equal keys are not refused here: :func:`structure_page` checks for them.
    """
    try:
        return _JSON.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError, ArithmeticError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
    raise ResponseFormatError(f"the answer is not valid JSON ({reason})")


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
    document: Mapping[str, Any],
    *,
    page: int,
    body: bytes | None = None,
    converter: cattrs.Converter | None = None,
) -> Page:
    """Structure a TXN envelope into a :class:`Page` of links.

    With ``body`` (the raw answer ``document`` was parsed from by :func:`parse`),
    the keys read are counted against the body's; on any difference the body is
    parsed again by :func:`decode_json`, which refuses duplicate keys.
    """
    try:
        structured, strings = _structure(document, page, converter)
    except ResponseFormatError:
        if body is not None:
            # A duplicate key can hide the real shape (msgspec kept the last value):
            # it is the error to report, not what the last value broke.
            decode_json(body)
        raise
    # Every '"' of a body delimits a string or is escaped inside one: twice the strings
    # read is the count of a body without a duplicate key; one more key, written or
    # hidden, and the counts differ.
    if body is not None and 2 * strings != body.count(b'"'):
        structured, _ = _structure(decode_json(body), page, converter)
    return structured


def _structure(
    document: Mapping[str, Any], page: int, converter: cattrs.Converter | None
) -> tuple[Page, int]:
    """The page, and the number of JSON strings (keys and values) it was read from."""
    tally = [0]
    reference = None if converter is None else converter.get_structure_hook(PayoutLink)

    def link_hook(raw: Any, _: object) -> PayoutLink:
        if reference is None:
            return _fast_link(raw, tally)
        tally[0] += _tokens(raw)
        return reference(raw, PayoutLink)  # type: ignore[no-any-return]

    converter = converter or _CONVERTER
    data = document.get("data")
    if not isinstance(data, Mapping):
        raise ResponseFormatError(f"page {page}: 'data' is not an object")
    raw_meta = data.get("meta")
    try:
        meta = converter.structure(raw_meta, PageMeta)
    except Exception:  # noqa: BLE001  # any failure on untrusted input is a format error
        raise ResponseFormatError(
            f"page {page}: 'meta' is missing or not the documented shape"
        ) from None
    raw_records = data.get("records")
    if raw_records is None:
        raw_records = []
    if not isinstance(raw_records, list):
        raise ResponseFormatError(f"page {page}: 'records' is not a list")
    try:
        if reference is None:  # the hot loop: no hook in between
            records = [_fast_link(raw, tally) for raw in raw_records]
        else:
            records = [link_hook(raw, PayoutLink) for raw in raw_records]
    except Exception:  # noqa: BLE001  # _diagnose names the record and the field at fault
        raise _record_error(document, raw_records, link_hook, page) from None
    strings = tally[0] + _tokens(document, skip=raw_records)
    return Page(meta=meta, records=tuple(records), **envelope_details(document)), strings


def _record_error(
    document: Mapping[str, Any],
    raw_records: list[Any],
    link_hook: Callable[[Any, Any], PayoutLink],
    page: int,
) -> ResponseFormatError:
    """The error for the first record of a page that cannot be structured."""
    index, raw = 0, None
    for index, raw in enumerate(raw_records, start=1):  # noqa: B007  # the last one is wanted
        try:
            link_hook(raw, PayoutLink)
        except Exception:  # noqa: BLE001
            break
    return ResponseFormatError(
        f"page {page}: record {index}{_diagnose(raw)}",
        ipay_uuid=_optional_str(document.get("ipay_uuid"), None),
    )


_ENVELOPE_DETAILS = ("ipay_uuid", "timestamp", "environment")


def envelope_details(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope fields a :class:`Page` keeps: ``ipay_uuid``, ``timestamp``, ``environment``."""
    return {
        "ipay_uuid": _optional_str(envelope.get("ipay_uuid"), None),
        "timestamp": _optional_datetime(envelope.get("timestamp"), None),
        "environment": _optional_str(envelope.get("environment"), None),
    }
