"""The flattened link: one row of plain values per :class:`~ipay_links.PayoutLink`.

Written by a CSV export (its columns), by the mirror (the columns of ``payout_links``)
and compared by a sync, all from this one definition:

- :data:`FLAT_FIELDS`: the names, in the order of the class's fields, the contact's
  three (``contact_name``, ``contact_email``, ``contact_mobile``) in place of
  ``contact_details``;
- :func:`flatten`: the values in that order. The status is its string (a status the
  library does not know is the server's string already), the payment modes are joined
  with ``|`` (``ACCOUNT|VPA``), and the rest is as the link holds it: the amount a
  ``Decimal``, the datetimes aware, ``verify_bene`` a ``bool``, a missing value
  ``None``. Each writer puts them in its own form (:func:`cell`: CSV's).

Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ..models import PayoutLink

__all__ = ["FLAT_FIELDS", "cell", "flatten"]

FLAT_FIELDS = (
    "link_id",
    "status",
    "amount",
    "purpose",
    "description",
    "contact_name",
    "contact_email",
    "contact_mobile",
    "reference_no",
    "order_id",
    "url",
    "qr_url",
    "payment_modes",
    "verify_bene",
    "activated_at",
    "expired_at",
)


def flatten(link: PayoutLink) -> tuple[Any, ...]:
    """The values of ``link`` in the order of :data:`FLAT_FIELDS`."""
    # Written out, not read from FLAT_FIELDS: a sync flattens every link it stores, and
    # a loop of getattr costs more than the database's own work on an unchanged link.
    contact = link.contact_details
    return (
        link.link_id,
        str(link.status),
        link.amount,
        link.purpose,
        link.description,
        None if contact is None else contact.name,
        None if contact is None else contact.email,
        None if contact is None else contact.mobile,
        link.reference_no,
        link.order_id,
        link.url,
        link.qr_url,
        "|".join(link.payment_modes),
        link.verify_bene,
        link.activated_at,
        link.expired_at,
    )


def cell(value: object) -> str:
    """A flattened value as CSV's text: ``""`` for none, ``true``/``false``, an amount's
    digits in positional notation (``1E+3`` is ``1000``), a datetime in ISO 8601 with its
    own offset."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
