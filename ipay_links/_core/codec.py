"""InstantPay's JSON into the models: the parsers, the converter and the page decoders.

This module owns everything that knows the wire: camelCase keys, money as exact
``Decimal``, datetimes in Indian time, the duplicate-key check, and the rules for
odd values. Tolerant where InstantPay documents nothing (optional fields that are
null, missing or unparseable become ``None``), strict where a walk would otherwise
go wrong (``linkId``, ``status`` and ``amount`` are required); README.md, "What
you get", states the rules for users.

Three routes, one meaning (the tests compare them on thousands of generated and
edge records and pages):

- The *reference*, :func:`make_converter`: cattrs hooks, one per field. It defines
  the rules, builds the meta of every page, and takes every record the common
  shape (:func:`_common_link`) does not fit.
- The *typed route*, :func:`typed_page`: msgspec decodes a page into untracked
  wire structs, no dict per record, and :func:`_common_link` builds each link
  from its struct's values. It takes a TXN page whose every record is in the
  common shape and whose every key the structs know, or answers ``None``.
- The *dict route*, :func:`parse` then :func:`structure_page`: msgspec parses to
  dicts; each record goes through :func:`_common_link` too or, off the common
  shape, through the reference hooks. It takes the TXN pages the typed route
  refuses, and is kept for the pages InstantPay's drift makes: a key the structs
  do not know (InstantPay adds fields) sends every page off the typed route, one
  odd record its whole page. Given to the reference hooks instead, such pages
  decode 1.4x (a new key in every record) to 1.9x (one odd record in 100) slower
  end to end, 1.6x to 2.3x with the standard library's parser as well; only a
  page whose every record is odd would gain (1.15x). It costs :func:`_dict_link`,
  some 20 lines. On the pages both take, the typed route is 1.2x as fast. (Pages
  of 100 links; each ratio taken within one run, and alike in two runs.)

msgspec keeps the last of two equal keys: both msgspec routes count the strings
they read and compare the count with the body's (:func:`_every_string_read`).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any, cast

import attrs
import cattrs
import msgspec
from cattrs.gen import make_dict_structure_fn, override
from msgspec import UNSET, UnsetType

from ..errors import ResponseFormatError
from ..models import ContactDetails, LinkStatus, Page, PageMeta, PayoutLink

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

# InstantPay writes "YYYY-MM-DD HH:MM:SS" with no zone, in Indian time (README.md,
# "What you get"). India has kept +05:30 without daylight saving since 1945, so a
# fixed offset is exact and much cheaper than a ZoneInfo lookup.
IST = timezone(timedelta(hours=5, minutes=30))

# Beyond this many digits of exponent a number is no amount or count but an attack:
# int(Decimal("1E+600000")) alone blocks the event loop for seconds.
_MAX_ADJUSTED_EXPONENT = 30
# Whole numbers of rupees below this are exact Decimals at once (the reference bounds).
_BIG = 10**_MAX_ADJUSTED_EXPONENT

_KNOWN_STATUSES = {member.value: member for member in LinkStatus}
# The fields a record cannot do without, by wire name (README.md, "What you get").
_REQUIRED = ("linkId", "status", "amount")
# The envelope fields a Page keeps.
_ENVELOPE_DETAILS = ("ipay_uuid", "timestamp", "environment")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


# -- parsing ------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins: refuse to guess.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("an object has the same key twice")
    return result


def _in_range(value: Decimal) -> bool:
    bound = _MAX_ADJUSTED_EXPONENT
    return value.is_finite() and -bound <= value.adjusted() <= bound


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if not _in_range(value):
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
            parse_float=_decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, RecursionError, ArithmeticError) as exc:
        error = _not_json(exc)
    raise error


# Numbers with a fraction or an exponent arrive as the Decimal of their text, at C
# speed; their range is checked where they are used (_amount, _count, _check_core).
_JSON = msgspec.json.Decoder(float_hook=Decimal)


def parse(body: bytes) -> Any:
    """Parse a body fast: msgspec, non-integer numbers as ``Decimal`` of their text.

    Equal keys are not refused here: :func:`structure_page` checks for them.
    """
    try:
        return _JSON.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError, ArithmeticError) as exc:
        error = _not_json(exc)
    raise error


# -- the reference: one cattrs hook per field ------------------------------------------


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
    """Build the reference converter; ``forbid_extra_keys`` is for the project's own drift tests."""
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


def envelope_details(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope fields a :class:`Page` keeps: ``ipay_uuid``, ``timestamp``, ``environment``."""
    return {
        "ipay_uuid": _optional_str(envelope.get("ipay_uuid"), None),
        "timestamp": _optional_datetime(envelope.get("timestamp"), None),
        "environment": _optional_str(envelope.get("environment"), None),
    }


# -- the duplicate-key check ---------------------------------------------------------


def _count_strings(value: object, skip: object = None) -> int:
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


def _every_string_read(body: bytes, strings: int) -> bool:
    """Whether the ``strings`` read from ``body`` are every string written in it, once.

    Every ``"`` of a body delimits a string (a key or a value) or is escaped inside
    one: a body has at least twice as many ``"`` as the strings read from it, and
    exactly twice as many when nothing is escaped and no key went unread. A
    duplicate key (msgspec keeps the last value) or a key the wire structs skip is a
    string not read; white space and escapes cannot hide one, they only make the
    count of ``"`` larger. On ``False`` the body goes on to a parser that reads more:
    from the typed route to the dict route, from the dict route to
    :func:`decode_json`, which refuses duplicate keys.
    """
    return 2 * strings == body.count(b'"')


def _links_and_strings(
    built: list[tuple[PayoutLink, int]],
) -> tuple[tuple[PayoutLink, ...], int]:
    """The links of a page, and the strings their records were written with, in all."""
    if not built:
        return (), 0
    links, strings = zip(*built, strict=True)
    return cast("tuple[PayoutLink, ...]", links), sum(cast("tuple[int, ...]", strings))


# -- the common shape of a record: both msgspec routes build it -------------------------

# The wire names of a record's fields, in the order _common_link unpacks them.
_WIRE_NAMES = (
    "linkId",
    "status",
    "amount",
    "purpose",
    "description",
    "contactDetails",
    "referenceNo",
    "orderId",
    "url",
    "qrUrl",
    "paymentModes",
    "verifyBene",
    "activatedAt",
    "expiredAt",
)
_CONTACT_KEYS = ("name", "email", "mobile")


def _wire_names(cls: type[attrs.AttrsInstance]) -> set[str]:
    return {_camel(field.name) for field in attrs.fields(cls)}


# The common shape is read and built by name: a field added to a model goes here too.
if _wire_names(PayoutLink) != set(_WIRE_NAMES) or _wire_names(ContactDetails) != set(_CONTACT_KEYS):
    raise RuntimeError("_WIRE_NAMES and _CONTACT_KEYS must name every field of their model")

# A class called with keywords hands them to __init__ as a dict: a link by keyword
# took 640 ns that way against 240 ns positionally. Calling __init__ on a new
# instance keeps the keywords a plain call: 270 ns, and no tie to the field order.
_new = object.__new__
_init_link = PayoutLink.__init__
_init_contact = ContactDetails.__init__


class _Unusual(Exception):
    """A record off the common shape: the reference hooks decide."""


_fromisoformat = datetime.fromisoformat


def _wire_datetime(text: str) -> datetime | None:
    """A datetime as InstantPay writes it ("YYYY-MM-DD HH:MM:SS", Indian time), fast."""
    if len(text) == 19:
        return _fromisoformat(text + "+05:30")
    return _optional_datetime(text, None)


def _check_core(link_id: Any, status: Any, amount: Any, modes: Any, verify: Any) -> None:
    """Raise :class:`_Unusual` unless these fields of a record are in the common shape.

    ``linkId`` and ``status`` are strings, not empty; ``amount`` a ``Decimal`` within
    the reference bounds; ``paymentModes`` a list of strings; ``verifyBene`` true,
    false or null.
    """
    if (
        link_id.__class__ is not str
        or not link_id
        or status.__class__ is not str
        or not status
        or amount.__class__ is not Decimal
        or not -_MAX_ADJUSTED_EXPONENT <= amount.adjusted() <= _MAX_ADJUSTED_EXPONENT
        or modes.__class__ is not list
        or (verify.__class__ is not bool and verify is not None)
    ):
        raise _Unusual
    for mode in modes:
        if mode.__class__ is not str:
            raise _Unusual


def _text_strings(
    purpose: Any,
    description: Any,
    reference_no: Any,
    order_id: Any,
    url: Any,
    qr_url: Any,
    activated: Any,
    expired: Any,
) -> int:
    """How many of a record's optional texts are strings; :class:`_Unusual` for another type."""
    if (
        (purpose.__class__ is not str and purpose is not None)
        or (description.__class__ is not str and description is not None)
        or (reference_no.__class__ is not str and reference_no is not None)
        or (order_id.__class__ is not str and order_id is not None)
        or (url.__class__ is not str and url is not None)
        or (qr_url.__class__ is not str and qr_url is not None)
        or (activated.__class__ is not str and activated is not None)
        or (expired.__class__ is not str and expired is not None)
    ):
        raise _Unusual
    return (
        (purpose is not None)
        + (description is not None)
        + (reference_no is not None)
        + (order_id is not None)
        + (url is not None)
        + (qr_url is not None)
        + (activated is not None)
        + (expired is not None)
    )


def _common_contact(
    contact: Any, contact_fields: Callable[[Any], tuple[Any, ...]]
) -> tuple[ContactDetails | None, int]:
    """The contact of a record in the common shape, and the strings it was written with."""
    if contact is None:
        return None, 0
    name, email, mobile = contact_fields(contact)
    if (
        (name.__class__ is not str and name is not None)
        or (email.__class__ is not str and email is not None)
        or (mobile.__class__ is not str and mobile is not None)
    ):
        raise _Unusual
    details = _new(ContactDetails)
    _init_contact(details, name=name, email=email, mobile=mobile)
    return details, 3 + (name is not None) + (email is not None) + (mobile is not None)


def _common_link(
    values: tuple[Any, ...], contact_fields: Callable[[Any], tuple[Any, ...]]
) -> tuple[PayoutLink, int]:
    """A link from a record in the common shape, and the strings it was written with.

    The common shape: every field present, strings or nulls where strings go, a
    number for ``amount``, "YYYY-MM-DD HH:MM:SS" datetimes. ``values`` are the
    record's values in the order of :data:`_WIRE_NAMES`; ``contact_fields`` reads
    the name, email and mobile of its contact. Any other record raises (:class:`_Unusual`
    or what reading it raised).
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
    _check_core(link_id, status, amount, modes, verify)
    text_strings = _text_strings(
        purpose, description, reference_no, order_id, url, qr_url, activated, expired
    )
    details, strings = _common_contact(contact, contact_fields)
    # The record's keys, linkId, status, the modes, its texts and its contact's strings.
    strings += len(_WIRE_NAMES) + 2 + len(modes) + text_strings
    link = _new(PayoutLink)
    _init_link(
        link,
        link_id=link_id,
        status=_KNOWN_STATUSES.get(status, status),
        amount=amount,
        purpose=purpose,
        description=description,
        contact_details=details,
        reference_no=reference_no,
        order_id=order_id,
        url=url,
        qr_url=qr_url,
        payment_modes=tuple(modes),
        verify_bene=verify if verify is True or verify is False else None,
        activated_at=None if activated is None else _wire_datetime(activated),
        expired_at=None if expired is None else _wire_datetime(expired),
    )
    return link, strings


# -- the typed route -----------------------------------------------------------------
# msgspec decodes a page straight into these untracked (gc=False) structs: no dict
# per record, nothing for the cyclic collector to look over, and under half the
# time of parsing to dicts. Every field is ``Any`` (or a nested struct), absent is
# UNSET, unknown keys are skipped: the rules stay in _common_link.


_WireContact = msgspec.defstruct(
    "_WireContact", [(name, Any, UNSET) for name in _CONTACT_KEYS], gc=False
)
_WireRecord = msgspec.defstruct(
    "_WireRecord",
    [
        (name, _WireContact | None | UnsetType if name == "contactDetails" else Any, UNSET)
        for name in _WIRE_NAMES
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
# A wire struct's values in the order of its fields: of _WIRE_NAMES, of _CONTACT_KEYS.
# Four times as fast as an attrgetter of the same names.
_wire_values = msgspec.structs.astuple
# Every field of the envelope but ``data``, whose strings typed_page counts itself.
_ENVELOPE_SCALARS = attrgetter(*(f for f in _WireEnvelope.__struct_fields__ if f != "data"))


def _wire_envelope_strings(envelope: _WireEnvelope, data: _WireData) -> int:
    """The strings of an envelope outside its records: keys, meta, the other fields."""
    # The keys "data", "meta" and "records".
    strings = 1 + (data.meta is not UNSET) + (data.records is not UNSET)
    strings += _count_strings(data.meta, skip=UNSET)
    for value in _ENVELOPE_SCALARS(envelope):
        if value is not UNSET:
            strings += 1 + _count_strings(value)
    return strings


def typed_page(body: bytes, *, page: int) -> Page | None:
    """A TXN page whose every link is in the common shape, straight from the wire structs.

    ``None`` for anything else (another statuscode, an odd shape or record, keys the
    structs do not know, a duplicate key, an escaped quote): the dict route of
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
    try:
        if raw_records is None or raw_records is UNSET:
            built: list[tuple[PayoutLink, int]] = []
        else:
            built = [_common_link(_wire_values(raw), _wire_values) for raw in raw_records]
        meta = _CONVERTER.structure(data.meta, PageMeta)
    except Exception:  # noqa: BLE001  # an unusual record or meta: the dict route decides
        return None
    records, strings = _links_and_strings(built)
    if not _every_string_read(body, strings + _wire_envelope_strings(envelope, data)):
        return None
    details = {name: getattr(envelope, name) for name in _ENVELOPE_DETAILS}
    return Page(meta=meta, records=records, **envelope_details(details))


# -- the dict route, and the reference for whole pages ---------------------------------

_DICT_LINK_FIELDS = itemgetter(*_WIRE_NAMES)
_DICT_CONTACT_FIELDS = itemgetter(*_CONTACT_KEYS)


def _dict_link(raw: Any) -> tuple[PayoutLink, int]:
    """A link from a parsed record, and the strings it was written with: the reference, fast.

    A record in the common shape is built by :func:`_common_link`; any other record
    goes to the reference hooks, which apply the tolerance rules or raise.
    """
    try:
        if len(raw) == len(_WIRE_NAMES):
            contact = raw["contactDetails"]
            if contact is None or len(contact) == len(_CONTACT_KEYS):
                return _common_link(_DICT_LINK_FIELDS(raw), _DICT_CONTACT_FIELDS)
        # Keys the models do not know: the links are the same, the strings are more.
        link, _ = _common_link(_DICT_LINK_FIELDS(raw), _DICT_CONTACT_FIELDS)
        return link, _count_strings(raw)
    except Exception:  # noqa: BLE001  # _Unusual, a missing key, an odd type: the rules decide
        return _reference_link(raw, PayoutLink), _count_strings(raw)


def _reference_builder(converter: cattrs.Converter) -> Callable[[Any], tuple[PayoutLink, int]]:
    """The reference counterpart of :func:`_dict_link`, from ``converter``'s hooks."""
    hook = converter.get_structure_hook(PayoutLink)

    def build(raw: Any) -> tuple[PayoutLink, int]:
        return hook(raw, PayoutLink), _count_strings(raw)

    return build


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


def _record_error(
    document: Mapping[str, Any],
    raw_records: list[Any],
    build: Callable[[Any], object],
    page: int,
) -> ResponseFormatError:
    """The error for the first record of a page that cannot be structured."""
    index, raw = 0, None
    for index, raw in enumerate(raw_records, start=1):  # noqa: B007  # the last one is wanted
        try:
            build(raw)
        except Exception:  # noqa: BLE001
            break
    return ResponseFormatError(
        f"page {page}: record {index}{_diagnose(raw)}",
        ipay_uuid=_optional_str(document.get("ipay_uuid"), None),
    )


def _structure(
    document: Mapping[str, Any], page: int, converter: cattrs.Converter | None
) -> tuple[Page, int]:
    """The page, and the number of JSON strings (keys and values) it was read from."""
    build = _dict_link if converter is None else _reference_builder(converter)
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
        built = [build(raw) for raw in raw_records]
    except Exception:  # noqa: BLE001  # _diagnose names the record and the field at fault
        raise _record_error(document, raw_records, build, page) from None
    records, strings = _links_and_strings(built)
    strings += _count_strings(document, skip=raw_records)
    return Page(meta=meta, records=records, **envelope_details(document)), strings


def structure_page(
    document: Mapping[str, Any],
    *,
    page: int,
    body: bytes | None = None,
    converter: cattrs.Converter | None = None,
) -> Page:
    """Structure a TXN envelope into a :class:`Page` of links.

    Records go through :func:`_dict_link`, or through ``converter``'s hooks when one
    is given. With ``body`` (the raw answer ``document`` was parsed from by
    :func:`parse`), the strings read are counted against the body's; on any
    difference the body is parsed again by :func:`decode_json`, which refuses
    duplicate keys.
    """
    try:
        structured, strings = _structure(document, page, converter)
    except ResponseFormatError:
        if body is not None:
            # A duplicate key can hide the real shape (msgspec kept the last value):
            # it is the error to report, not what the last value broke.
            decode_json(body)
        raise
    if body is not None and not _every_string_read(body, strings):
        structured, _ = _structure(decode_json(body), page, converter)
    return structured


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
