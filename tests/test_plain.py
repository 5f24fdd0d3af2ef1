"""Plain data (``ipay_links._core.plain``): one form for everything the project writes, and back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import msgspec
import pytest

import ipay_links as il
from ipay_links._core.plain import from_plain, refuse_unknown_keys, to_plain
from ipay_links.cli._saved import SavedExport

IST = timezone(timedelta(hours=5, minutes=30))
FULL = il.PayoutLink(
    link_id="657aa9841b8d3897ff0a84fb",
    status=il.LinkStatus.CLAIMED,
    amount=Decimal("120.10"),
    purpose="refund",
    description=None,
    contact_details=il.ContactDetails(name="Ravi", email=None, mobile="9876543210"),
    reference_no="NA",
    order_id="231214123456ABCDE",
    url="https://instant.pe/abc",
    qr_url="https://api.instantpay.in/payment/payout/link/qr/abc",
    payment_modes=("ACCOUNT", "VPA"),
    verify_bene=False,
    activated_at=datetime(2023, 12, 14, 12, 34, 56, tzinfo=IST),
    expired_at=datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=UTC),
)
# The record every export is made of, exactly as the command line wrote it before _plain.
FULL_RECORD = {
    "link_id": "657aa9841b8d3897ff0a84fb",
    "status": "CLAIMED",
    "amount": Decimal("120.10"),
    "purpose": "refund",
    "description": None,
    "contact_details": {"name": "Ravi", "email": None, "mobile": "9876543210"},
    "reference_no": "NA",
    "order_id": "231214123456ABCDE",
    "url": "https://instant.pe/abc",
    "qr_url": "https://api.instantpay.in/payment/payout/link/qr/abc",
    "payment_modes": ["ACCOUNT", "VPA"],
    "verify_bene": False,
    "activated_at": "2023-12-14T12:34:56+05:30",
    "expired_at": "2024-01-01T00:00:00.000005+00:00",
}
# A FILE.checkpoint as the command line writes it (version 2), byte for byte.
SAVED_BEFORE = (
    '{"version": 2, "format": "jsonl", "csv_raw": false, "offset": 15466, "sha256": "'
    + "ab" * 32
    + '", "links_written": 30, "checkpoint": {"next_page": 4, "query": {"per_page": 10, '
    '"status": ["ISSUED", "CLAIMED"], "contact": null, "link_id": null}, "page_size": 10, '
    '"total_records": 49, "seen": ["6592b7dd0000000000000021", "6592b5f4000000000000001f"]}}'
)
NO_FILTER = {"per_page": 100, "status": None, "contact": None, "link_id": None}
# Each checkpoint and its plain form, written out: what to_dict() and the files hold.
CHECKPOINTS = [
    (
        il.Checkpoint(next_page=1, query=il.Query()),
        {
            "next_page": 1,
            "query": NO_FILTER,
            "page_size": None,
            "total_records": None,
            "seen": [],
        },
    ),
    (
        il.Checkpoint(
            next_page=None,
            query=il.Query(per_page=7, status=("ISSUED", "CLAIMED"), contact="x", link_id="y"),
            page_size=7,
            total_records=99,
            seen=("a", "b"),
        ),
        {
            "next_page": None,
            "query": {
                "per_page": 7,
                "status": ["ISSUED", "CLAIMED"],
                "contact": "x",
                "link_id": "y",
            },
            "page_size": 7,
            "total_records": 99,
            "seen": ["a", "b"],
        },
    ),
    (
        il.Checkpoint(next_page=4, query=il.Query(status=("EXPIRED",))),
        {
            "next_page": 4,
            "query": NO_FILTER | {"status": ["EXPIRED"]},
            "page_size": None,
            "total_records": None,
            "seen": [],
        },
    ),
]


def test_a_link_is_the_record_every_export_is_made_of() -> None:
    record = to_plain(FULL)
    assert record == FULL_RECORD
    assert list(record) == list(FULL_RECORD)  # the order of the columns and keys
    assert type(record["status"]) is str and type(record["amount"]) is Decimal
    assert str(record["amount"]) == "120.10"  # the digits as sent


def test_a_bare_link_keeps_its_nones_and_an_unknown_status_its_string() -> None:
    link = il.PayoutLink(link_id="x", status="ON_HOLD", amount=Decimal("5"))
    assert to_plain(link) == {
        "link_id": "x",
        "status": "ON_HOLD",
        "amount": Decimal("5"),
        **dict.fromkeys(["purpose", "description", "contact_details", "reference_no"]),
        **dict.fromkeys(["order_id", "url", "qr_url"]),
        "payment_modes": [],
        **dict.fromkeys(["verify_bene", "activated_at", "expired_at"]),
    }
    assert from_plain(to_plain(link), il.PayoutLink) == link


@pytest.mark.parametrize("link", [FULL, il.PayoutLink("y", "NEW", Decimal("0.01"))])
def test_a_link_comes_back_from_its_json(link: il.PayoutLink) -> None:
    text = msgspec.json.Encoder(decimal_format="number").encode(to_plain(link))
    back = from_plain(msgspec.json.Decoder(float_hook=Decimal).decode(text), il.PayoutLink)
    assert back == link
    assert type(back.status) is type(link.status)


async def test_a_page_is_what_ipay_links_page_prints(client: il.Client) -> None:
    page = await client.fetch_page(2, per_page=4)
    plain = to_plain(page)
    assert list(plain) == ["meta", "records", "ipay_uuid", "timestamp", "environment"]
    assert plain["meta"] == attrs.asdict(page.meta)
    assert plain["records"] == [to_plain(link) for link in page.records]
    assert page.timestamp is not None
    assert plain["timestamp"] == page.timestamp.isoformat()
    back = from_plain(plain, il.Page)
    assert (back.meta, list(back.records)) == (page.meta, list(page.records))


@pytest.mark.parametrize(("checkpoint", "expected"), CHECKPOINTS)
def test_a_checkpoint_is_what_to_dict_and_from_dict_make(
    checkpoint: il.Checkpoint, expected: dict[str, Any]
) -> None:
    plain = to_plain(checkpoint)
    assert plain == expected
    assert json.dumps(plain) == json.dumps(expected)  # the same keys in order
    assert checkpoint.to_dict() == expected
    assert from_plain(plain, il.Checkpoint) == il.Checkpoint.from_dict(plain) == checkpoint


def test_a_checkpoint_file_loads_and_is_written_the_same() -> None:
    saved = from_plain(json.loads(SAVED_BEFORE), SavedExport)
    assert saved.checkpoint == il.Checkpoint.from_dict(json.loads(SAVED_BEFORE)["checkpoint"])
    assert saved.checkpoint.query.status == ("ISSUED", "CLAIMED")
    assert json.dumps(to_plain(saved)) == SAVED_BEFORE


def test_reading_back_converts_as_from_dict_always_did() -> None:
    # cattrs' own conversions of the basic types, and keys it does not know ignored.
    data: dict[str, Any] = {"next_page": "3", "query": {"per_page": 5}, "seen": ["a"], "new": 1}
    assert from_plain(data, il.Checkpoint) == il.Checkpoint.from_dict(data)
    assert from_plain(data, il.Checkpoint).next_page == 3


@pytest.mark.parametrize(
    ("data", "cls", "message"),
    [
        ({"next_page": 2}, il.Checkpoint, "not a checkpoint: required field missing @ $.query"),
        ("x", il.Checkpoint, "not a checkpoint: expected a JSON object, got str"),
        (None, il.Checkpoint, "expected a JSON object, got NoneType"),
        ({"next_page": "x", "query": {}}, il.Checkpoint, "expected int | None @ $.next_page"),
        ({"next_page": 1, "query": {"per_page": []}}, il.Checkpoint, "@ $.query.per_page"),
        ({"next_page": 1, "query": None}, il.Checkpoint, "@ $.query"),
        ({"link_id": "a", "status": 3, "amount": 1}, il.PayoutLink, "got int @ $.status"),
        ({"link_id": "a", "status": "X"}, il.PayoutLink, "required field missing @ $.amount"),
        ({"link_id": "a", "status": "X", "amount": "NaN"}, il.PayoutLink, "not a finite number"),
        ({"link_id": "a", "status": "X", "amount": "1,5"}, il.PayoutLink, "not a decimal number"),
        (
            {"link_id": "a", "status": "X", "amount": 1, "activated_at": "2024-01-01 10:00:00"},
            il.PayoutLink,
            "'2024-01-01 10:00:00' has no UTC offset @ $.activated_at",
        ),
        (
            {"link_id": "a", "status": "X", "amount": 1, "expired_at": "soon"},
            il.PayoutLink,
            "'soon' is not an ISO 8601 datetime @ $.expired_at",
        ),
        ({"meta": {}, "records": 5}, il.Page, "not a page: "),
    ],
)
def test_what_cannot_be_read_back_is_a_value_error_naming_it(
    data: object, cls: type, message: str
) -> None:
    with pytest.raises(ValueError, match=r"^not ") as caught:
        from_plain(data, cls)
    assert type(caught.value) is ValueError
    assert message in str(caught.value)


def test_a_class_of_our_own_files_refuses_keys_it_does_not_know() -> None:
    @refuse_unknown_keys
    @attrs.frozen
    class Mine:
        size: int

    assert from_plain({"size": 1}, Mine) == Mine(1)
    with pytest.raises(ValueError, match=r"not a mine: extra fields found \(colour\)"):
        from_plain({"size": 1, "colour": "red"}, Mine)
    with pytest.raises(ValueError, match="extra fields found"):
        from_plain(json.loads(SAVED_BEFORE) | {"colour": "red"}, SavedExport)


async def test_the_simulators_links_come_back_whole(client: il.Client) -> None:
    links = [link async for link in client.iter_links(per_page=100)]
    assert {link.status for link in links} == set(il.LinkStatus)
    for link in links:
        assert from_plain(to_plain(link), il.PayoutLink) == link
