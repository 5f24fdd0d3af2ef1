"""Typed payout links and pages: attrs classes, no I/O and no wire names.

``Page`` and ``PageMeta`` are frozen. ``PayoutLink`` and ``ContactDetails`` are
plain slotted classes: a walk builds hundreds of thousands of them, and a frozen
attrs class sets each field through ``object.__setattr__``, which measured at a
third of the time it takes to turn a page into links (benchmarks/README.md).
Treat them as values all the same; compare them with ``==``, key them by
``link_id``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import attrs

__all__ = [
    "ContactDetails",
    "LinkStatus",
    "Page",
    "PageMeta",
    "PayoutLink",
]


class LinkStatus(enum.StrEnum):
    """The statuses InstantPay documents for a payout link; members equal their strings."""

    ISSUED = "ISSUED"
    CLAIMED = "CLAIMED"
    CANCELLED = "CANCELLED"
    # A claim is in progress.
    PROCESSING = "PROCESSING"
    EXPIRED = "EXPIRED"


def _masked_name(name: str | None) -> str:
    return repr(None if name is None else name[:1] + "***")


def _masked_email(email: str | None) -> str:
    return repr(None if email is None else "***")


def _masked_mobile(mobile: str | None) -> str:
    return repr(None if mobile is None else "*" * max(0, len(mobile) - 4) + mobile[-4:])


@attrs.define
class ContactDetails:
    """The payee the link was sent to. Personal data: keep it out of logs.

    Its repr (and so a ``PayoutLink``'s, a traceback's locals, an error report's)
    shows no more than a name's first letter and a mobile's last four digits:
    ``ContactDetails(name='R***', email='***', mobile='******5742')``. The attributes
    and every export carry the values themselves.
    """

    name: str | None = attrs.field(default=None, repr=_masked_name)
    email: str | None = attrs.field(default=None, repr=_masked_email)
    mobile: str | None = attrs.field(default=None, repr=_masked_mobile)


@attrs.define
class PayoutLink:
    """One payout link (not frozen, for speed: treat it as a value).

    ``status`` is a :class:`LinkStatus`, or the server's own string for a status
    this version does not know. ``amount`` is exact rupees and paise.
    Datetimes are timezone-aware, in Indian time (+05:30).
    """

    link_id: str
    status: LinkStatus | str
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


@attrs.frozen
class PageMeta:
    """InstantPay's ``meta``: where this page stands in the whole result."""

    total_pages: int
    current_page: int
    total_records: int
    records_on_current_page: int
    record_from: int | None = None
    record_to: int | None = None


@attrs.frozen
class Page:
    """One answer of the list endpoint: its meta, its links and the envelope's details."""

    meta: PageMeta
    records: Sequence[PayoutLink]
    ipay_uuid: str | None = None
    timestamp: datetime | None = None
    environment: str | None = None
