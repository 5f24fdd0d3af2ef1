"""msgspec Structs equivalent to ours: the fastest typed decoder we know of, for scale.

Frozen, camelCase on the wire, exact ``Decimal`` amounts, datetimes given the
+05:30 zone after decoding, a known status turned into a ``LinkStatus``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from ipay_links import LinkStatus
from ipay_links._core.codec import IST

__all__ = ["DECODER", "Envelope", "PayoutLink"]

_KNOWN = {member.value: member for member in LinkStatus}


def _in_ist(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=IST)
    return value.astimezone(IST)


class ContactDetails(msgspec.Struct, frozen=True):
    name: str | None = None
    email: str | None = None
    mobile: str | None = None


class PayoutLink(msgspec.Struct, frozen=True, rename="camel"):
    link_id: str
    status: str
    amount: Decimal
    purpose: str | None = None
    description: str | None = None
    contact_details: ContactDetails | None = None
    reference_no: str | None = None
    order_id: str | None = None
    url: str | None = None
    qr_url: str | None = None
    payment_modes: tuple[str, ...] = ()
    verify_bene: bool | None = None
    activated_at: datetime | None = None
    expired_at: datetime | None = None

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "status", _KNOWN.get(self.status, self.status))
        msgspec.structs.force_setattr(self, "activated_at", _in_ist(self.activated_at))
        msgspec.structs.force_setattr(self, "expired_at", _in_ist(self.expired_at))


class PageMeta(msgspec.Struct, frozen=True, rename="camel"):
    total_pages: int
    current_page: int
    total_records: int
    records_on_current_page: int
    record_from: int | None = None
    record_to: int | None = None


class PageData(msgspec.Struct, frozen=True):
    meta: PageMeta
    records: tuple[PayoutLink, ...] = ()


class Envelope(msgspec.Struct, frozen=True):
    statuscode: str
    status: str | None = None
    data: PageData | None = None
    timestamp: datetime | None = None
    ipay_uuid: str | None = None
    environment: str | None = None

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "timestamp", _in_ist(self.timestamp))


DECODER = msgspec.json.Decoder(Envelope)
