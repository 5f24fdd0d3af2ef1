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

    - ``name=None``, ``email=None``, ``mobile=None``: as the server sent them; ``None``
      when missing.
    """

    name: str | None = attrs.field(default=None, repr=_masked_name)
    email: str | None = attrs.field(default=None, repr=_masked_email)
    mobile: str | None = attrs.field(default=None, repr=_masked_mobile)


@attrs.define
class PayoutLink:
    """One payout link (not frozen, for speed: treat it as a value).

    Datetimes are timezone-aware, in Indian time (+05:30). Only the first three
    attributes are required; InstantPay's wire name of each is its camelCase form.

    - ``link_id``: InstantPay's id of the link (24 hex digits in its samples); the key
      that tells links apart.
    - ``status``: a :class:`LinkStatus`, or the server's own string for a status this
      version does not know.
    - ``amount``: a ``Decimal``, exact rupees and paise.
    - ``purpose=None``, ``description=None``: the texts the link was created with.
    - ``contact_details=None``: the payee, a :class:`ContactDetails` (personal data).
    - ``reference_no=None``, ``order_id=None``: the link's ``referenceNo`` and
      ``orderId`` as the server sends them (the reference page shows ``"NA"`` and an
      id such as ``"1231214070644TLWAP"``; it does not document them).
    - ``url=None``: the short link sent to the payee; ``qr_url=None``: the address of
      its QR code, kept exactly.
    - ``payment_modes=()``: a tuple of the ways the payee may be paid (``"ACCOUNT"``,
      ``"VPA"``, ...).
    - ``verify_bene=None``: InstantPay's ``verifyBene`` flag, ``True`` or ``False``;
      ``None`` when the server leaves it out.
    - ``activated_at=None``, ``expired_at=None``: when the link was activated, and when
      it expires or expired; ``None`` when missing or unreadable (``0000-00-00 00:00:00``).

    The class checks nothing: links come from the client, which refuses a record
    without a usable ``linkId``, ``status`` or ``amount`` (``ResponseFormatError``).
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
    """InstantPay's ``meta``: where this page stands in the whole result.

    - ``total_pages``: pages in the whole result, at the server's own page size.
    - ``current_page``: this page's number, from 1.
    - ``total_records``: links in the whole result when this page was read.
    - ``records_on_current_page``: links the server put on this page.
    - ``record_from=None``, ``record_to=None``: the positions (from 1) of this page's
      first and last link in the whole result; ``None`` when the server leaves them out.

    The server's page size wins over the one asked for: read it from these, not from
    ``per_page``. An empty page ("No Record Found") has every count at 0 and no
    ``record_from`` or ``record_to``.
    """

    total_pages: int
    current_page: int
    total_records: int
    records_on_current_page: int
    record_from: int | None = None
    record_to: int | None = None


@attrs.frozen
class Page:
    """One answer of the list endpoint: its meta, its links and the envelope's details.

    - ``meta``: the :class:`PageMeta`.
    - ``records``: the page's :class:`PayoutLink` objects, in the server's order. A
      page from a walk holds only the links not handed out before, so it may hold
      fewer than ``meta.records_on_current_page``.
    - ``ipay_uuid=None``: InstantPay's reference for the request, which its support
      asks for.
    - ``timestamp=None``: when the server answered, in Indian time; ``None`` when it
      is missing or unreadable.
    - ``environment=None``: the server's word for where it runs (``"LIVE"``,
      ``"SANDBOX"``, ...), any string.
    """

    meta: PageMeta
    records: Sequence[PayoutLink]
    ipay_uuid: str | None = None
    timestamp: datetime | None = None
    environment: str | None = None
