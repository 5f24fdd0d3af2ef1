"""The common shape of a record, and the one function that builds a link from it.

Both fast routes (:mod:`.fast` from wire structs, :mod:`.drift` from dicts) read a
record's values in the order of :data:`WIRE_NAMES` and hand them to
:func:`common_link`, which builds exactly the link the reference hooks would, or
raises for a record off the common shape (which then goes to the reference). It
also answers how many JSON strings the record was written with, for the
duplicate-key check (:mod:`.duplicates`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ...models import ContactDetails, PayoutLink
from .parsers import MAX_ADJUSTED_EXPONENT
from .reference import KNOWN_STATUSES, camel, optional_datetime

__all__ = ["CONTACT_KEYS", "WIRE_NAMES", "Unusual", "common_link", "links_of"]

# Whole numbers of rupees below this are exact Decimals at once (the reference bounds).
_BIG = 10**MAX_ADJUSTED_EXPONENT

# The wire names of a record's fields, in the order common_link unpacks them.
WIRE_NAMES = (
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
CONTACT_KEYS = ("name", "email", "mobile")


def _wire_names(cls: type[attrs.AttrsInstance]) -> set[str]:
    return {camel(field.name) for field in attrs.fields(cls)}


# The common shape is read and built by name: a field added to a model goes here too.
if _wire_names(PayoutLink) != set(WIRE_NAMES) or _wire_names(ContactDetails) != set(CONTACT_KEYS):
    raise RuntimeError("WIRE_NAMES and CONTACT_KEYS must name every field of their model")

# A class called with keywords hands them to __init__ as a dict: a link by keyword
# took 640 ns that way against 240 ns positionally. Calling __init__ on a new
# instance keeps the keywords a plain call: 270 ns, and no tie to the field order.
_new = object.__new__
_init_link = PayoutLink.__init__
_init_contact = ContactDetails.__init__


class Unusual(Exception):
    """A record off the common shape: the reference hooks decide."""


def links_of(
    records: Iterable[Any], build: Callable[[Any], tuple[PayoutLink, int]]
) -> tuple[tuple[PayoutLink, ...], int]:
    """The links ``build`` makes of ``records``, and the strings they were written with.

    A loop, not a list of ``(link, strings)`` pairs: each pair goes as soon as it is
    read, so the cyclic collector has a thousand fewer objects to look over on a
    page of a thousand links.
    """
    links: list[PayoutLink] = []
    append = links.append
    strings = 0
    for raw in records:
        link, count = build(raw)
        append(link)
        strings += count
    return tuple(links), strings


_fromisoformat = datetime.fromisoformat


def _wire_datetime(text: str) -> datetime | None:
    """A datetime as InstantPay writes it ("YYYY-MM-DD HH:MM:SS", Indian time), fast."""
    if len(text) == 19:
        return _fromisoformat(text + "+05:30")
    return optional_datetime(text, None)


def _check_core(link_id: Any, status: Any, amount: Any, modes: Any, verify: Any) -> None:
    """Raise :class:`Unusual` unless these fields of a record are in the common shape.

    ``linkId`` and ``status`` are strings, not empty; ``amount`` a ``Decimal`` within
    the reference bounds; ``paymentModes`` a list of strings (a tuple, from the
    wire structs); ``verifyBene`` true, false or null.
    """
    if (
        link_id.__class__ is not str
        or not link_id
        or status.__class__ is not str
        or not status
        or amount.__class__ is not Decimal
        or not -MAX_ADJUSTED_EXPONENT <= amount.adjusted() <= MAX_ADJUSTED_EXPONENT
        or (modes.__class__ is not list and modes.__class__ is not tuple)
        or (verify.__class__ is not bool and verify is not None)
    ):
        raise Unusual
    for mode in modes:
        if mode.__class__ is not str:
            raise Unusual


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
    """How many of a record's optional texts are strings; :class:`Unusual` for another type."""
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
        raise Unusual
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
        raise Unusual
    details = _new(ContactDetails)
    _init_contact(details, name=name, email=email, mobile=mobile)
    return details, 3 + (name is not None) + (email is not None) + (mobile is not None)


# Longer than this project's functions should be, and kept whole: one record's
# fourteen fields unpacked, checked and set in one place, on the path every link takes.
def common_link(
    values: tuple[Any, ...], contact_fields: Callable[[Any], tuple[Any, ...]]
) -> tuple[PayoutLink, int]:
    """A link from a record in the common shape, and the strings it was written with.

    The common shape: every field present, strings or nulls where strings go, a
    number for ``amount``, "YYYY-MM-DD HH:MM:SS" datetimes. ``values`` are the
    record's values in the order of :data:`WIRE_NAMES`; ``contact_fields`` reads
    the name, email and mobile of its contact. Any other record raises (:class:`Unusual`
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
    strings += len(WIRE_NAMES) + 2 + len(modes) + text_strings
    link = _new(PayoutLink)
    _init_link(
        link,
        link_id=link_id,
        status=KNOWN_STATUSES.get(status, status),
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
