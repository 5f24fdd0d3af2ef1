"""The flattened link is one definition: every field of PayoutLink (ContactDetails' too)
has its flat field, its CSV column and its column of ``payout_links``, in one order.

A field added to the models without a place in ``_core/flat.py`` fails here.
"""

from __future__ import annotations

import io
import typing
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs

from ipay_links import ContactDetails, LinkStatus, PayoutLink
from ipay_links._core.flat import FLAT_FIELDS, cell, flatten
from ipay_links.cli._formats import make_writer

# The nested classes of PayoutLink and the prefix of their flat fields.
NESTED: dict[str, tuple[str, type]] = {"contact_details": ("contact", ContactDetails)}


def expected_names() -> list[str]:
    """PayoutLink's fields in order, each nested class's fields in its place, prefixed."""
    hints = typing.get_type_hints(PayoutLink)
    names: list[str] = []
    for field in attrs.fields(PayoutLink):
        nested = [kind for kind in typing.get_args(hints[field.name]) if attrs.has(kind)]
        if attrs.has(hints[field.name]) or nested:
            assert field.name in NESTED, f"{field.name}: a nested class with no flat fields"
            prefix, kind = NESTED[field.name]
            names += [f"{prefix}_{sub.name}" for sub in attrs.fields(kind)]
        else:
            names.append(field.name)
    return names


def test_every_field_of_a_link_has_its_flat_field_in_the_order_of_the_class() -> None:
    assert list(FLAT_FIELDS) == expected_names()


def test_the_csv_columns_and_the_mirrors_columns_are_the_flat_fields() -> None:
    from ipay_links.db import _schema

    out = io.StringIO()
    make_writer("csv", out).begin()
    assert out.getvalue() == ",".join(FLAT_FIELDS) + "\r\n"
    columns = [column.name for column in _schema.links.columns]
    assert columns[: len(FLAT_FIELDS)] == list(FLAT_FIELDS)
    assert columns[len(FLAT_FIELDS) :] == [
        "first_seen_at",
        "last_seen_at",
        "last_sync_id",
        "missing_since",
    ]
    assert set(_schema._LINK_COLUMNS) == set(FLAT_FIELDS)  # no column for a field gone
    assert FLAT_FIELDS[1:] == _schema.LINK_FIELDS


def test_flatten_puts_each_value_under_its_own_name() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    link = PayoutLink(
        link_id="L1",
        status=LinkStatus.CLAIMED,
        amount=Decimal("100.50"),
        purpose="p",
        description="d",
        contact_details=ContactDetails(name="n", email="e", mobile="m"),
        reference_no="r",
        order_id="o",
        url="u",
        qr_url="q",
        payment_modes=("ACCOUNT", "VPA"),
        verify_bene=False,
        activated_at=datetime(2026, 1, 2, 3, 4, tzinfo=ist),
        expired_at=datetime(2026, 2, 3, 4, 5, tzinfo=ist),
    )
    flat: dict[str, Any] = dict(zip(FLAT_FIELDS, flatten(link), strict=True))
    for name, value in flat.items():
        prefix, _, rest = name.partition("_")
        if name == "status":
            assert value == "CLAIMED" and type(value) is str
        elif name == "payment_modes":
            assert value == "ACCOUNT|VPA"
        elif prefix == "contact":
            assert value == getattr(link.contact_details, rest)
        else:
            assert value == getattr(link, name), name
    bare = flatten(PayoutLink(link_id="L2", status="NEW_ONE", amount=Decimal("1E+3")))
    assert bare[:3] == ("L2", "NEW_ONE", Decimal("1E+3"))
    assert bare[3:] == (None,) * 9 + ("", None, None, None)


def test_a_cell_is_the_text_a_csv_export_writes() -> None:
    moment = datetime(2026, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert [cell(v) for v in (None, True, False, Decimal("1E+3"), moment, "x")] == [
        "",
        "true",
        "false",
        "1000",
        "2026-01-02T03:04:00+05:30",
        "x",
    ]
