"""The typed route: a TXN page in the common shape, straight from msgspec wire structs.

msgspec decodes a page into these untracked (``gc=False``) structs: no dict per
record, nothing for the cyclic collector to look over, and under half the time of
parsing to dicts. Every field is ``Any`` (or a nested struct), absent is
``UNSET``, unknown keys are skipped: the rules stay in :func:`.common.common_link`.
"""

from __future__ import annotations

from decimal import Decimal
from operator import attrgetter
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from ...models import Page, PageMeta, PayoutLink
from .common import CONTACT_KEYS, WIRE_NAMES, common_link, links_of
from .duplicates import count_strings, every_string_read
from .reference import CONVERTER, envelope_details

__all__ = ["typed_page"]

# The envelope fields a Page keeps.
_ENVELOPE_DETAILS = ("ipay_uuid", "timestamp", "environment")

_WireContact = msgspec.defstruct(
    "_WireContact", [(name, Any, UNSET) for name in CONTACT_KEYS], gc=False
)
# Two fields are typed: the contact, a struct of its own; the modes, the very tuple
# a link keeps (not a list it would copy: one container per record instead of two
# for the collector to look over). A record whose modes are no list of strings
# fails the decode, and its page takes the dict route, as a record off the common
# shape always did.
_WIRE_TYPES: dict[str, Any] = {
    "contactDetails": _WireContact | None | UnsetType,
    "paymentModes": tuple[str, ...] | UnsetType,
}
_WireRecord = msgspec.defstruct(
    "_WireRecord",
    [(name, _WIRE_TYPES.get(name, Any), UNSET) for name in WIRE_NAMES],
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
# A wire struct's values in the order of its fields: of WIRE_NAMES, of CONTACT_KEYS.
# Four times as fast as an attrgetter of the same names.
_wire_values = msgspec.structs.astuple
# Every field of the envelope but ``data``, whose strings typed_page counts itself.
_ENVELOPE_SCALARS = attrgetter(*(f for f in _WireEnvelope.__struct_fields__ if f != "data"))


def _typed_link(raw: Any) -> tuple[PayoutLink, int]:
    return common_link(_wire_values(raw), _wire_values)


def _wire_envelope_strings(envelope: _WireEnvelope, data: _WireData) -> int:
    """The strings of an envelope outside its records: keys, meta, the other fields."""
    # The keys "data", "meta" and "records".
    strings = 1 + (data.meta is not UNSET) + (data.records is not UNSET)
    strings += count_strings(data.meta, skip=UNSET)
    for value in _ENVELOPE_SCALARS(envelope):
        if value is not UNSET:
            strings += 1 + count_strings(value)
    return strings


def typed_page(body: bytes, *, page: int) -> Page | None:
    """A TXN page whose every link is in the common shape, straight from the wire structs.

    ``None`` for anything else (another statuscode, an odd shape or record, keys the
    structs do not know, a duplicate key, an escaped quote): the dict route of
    :func:`.parsers.parse` and :func:`.drift.structure_page` then decides, with the
    same result.
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
            records: tuple[PayoutLink, ...] = ()
            strings = 0
        else:
            records, strings = links_of(raw_records, _typed_link)
        meta = CONVERTER.structure(data.meta, PageMeta)
    except Exception:  # noqa: BLE001  # an unusual record or meta: the dict route decides
        return None
    if not every_string_read(body, strings + _wire_envelope_strings(envelope, data)):
        return None
    details = {name: getattr(envelope, name) for name in _ENVELOPE_DETAILS}
    return Page(meta=meta, records=records, **envelope_details(details))
