"""Pure tests of the decoder: recorded bodies in, typed pages or ResponseFormatError out."""

from __future__ import annotations

import ast
import contextlib
import copy
import gc
import json
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import ipay_links as il
from ipay_links._core import codec as _codec
from ipay_links._core import protocol
from ipay_links.testing import Simulator, generate_links

from .conftest import sample_envelope

PACKAGE = Path(il.__file__).parent

IST = timedelta(hours=5, minutes=30)


def read(envelope: dict[str, Any], page: int = 1) -> il.Page:
    return protocol.read_response(200, {}, json.dumps(envelope).encode(), page=page)


def with_record(**changes: Any) -> dict[str, Any]:
    envelope = sample_envelope()
    record = envelope["data"]["records"][0]
    for key, value in changes.items():
        if value is ...:
            del record[key]
        else:
            record[key] = value
    return envelope


def first(envelope: dict[str, Any]) -> il.PayoutLink:
    return read(envelope).records[0]


def test_reference_sample_parses_into_exactly_its_values() -> None:
    page = read(sample_envelope())
    assert page.meta == il.PageMeta(
        total_pages=6,
        current_page=1,
        total_records=12,
        records_on_current_page=2,
        record_from=1,
        record_to=2,
    )
    assert page.ipay_uuid == "h0009ad8a356-b745-4ee2-88bb-0c4abb750ed7-bQQqUjuG4ASN"
    assert page.environment == "PRODUCTION"
    assert page.timestamp == datetime(2023, 12, 14, 16, 43, 59, tzinfo=_codec.IST)
    assert page.timestamp is not None and page.timestamp.utcoffset() == IST
    first_link, second_link = page.records
    assert first_link == il.PayoutLink(
        link_id="657aa9841b8d3897ff0a84fb",
        status=il.LinkStatus.ISSUED,
        amount=Decimal("120.11"),
        purpose="refund",
        description="Giving captch payment",
        contact_details=il.ContactDetails(
            name="Sample Name", email="[email protected]", mobile="7428585742"
        ),
        reference_no="NA",
        order_id="1231214070644TLWAP",
        url="https://instant.pe/LS25FH",
        qr_url="https://api.instantpay.in/payment/payout/link/qr/LS25FH",
        payment_modes=("ACCOUNT",),
        verify_bene=True,
        activated_at=datetime(2023, 11, 20, 14, 2, tzinfo=_codec.IST),
        expired_at=datetime(2024, 3, 13, 12, 36, 44, tzinfo=_codec.IST),
    )
    assert second_link.status == "PROCESSING"
    assert second_link.link_id == "657a9ac51b8d3897ff0a84f9"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (120.11, Decimal("120.11")),
        (120.10, Decimal("120.1")),
        (5000, Decimal("5000")),
        ("120.11", Decimal("120.11")),
        (" 99.50 ", Decimal("99.50")),
        (0.1, Decimal("0.1")),
        (123456789.99, Decimal("123456789.99")),
    ],
)
def test_amount_is_the_exact_decimal_of_the_wire_text(wire: object, expected: Decimal) -> None:
    amount = first(with_record(amount=wire)).amount
    assert type(amount) is Decimal
    assert amount == expected
    assert str(amount) == str(expected)


def test_amount_keeps_trailing_zero_paise_as_sent() -> None:
    body = json.dumps(with_record()).replace("120.11", "120.10", 1).encode()
    page = protocol.read_response(200, {}, body, page=1)
    assert str(page.records[0].amount) == "120.10"


@pytest.mark.parametrize("field", ["linkId", "status", "amount"])
@pytest.mark.parametrize("value", [..., None])
def test_a_missing_or_null_required_field_names_the_field_and_page(
    field: str, value: object
) -> None:
    with pytest.raises(
        il.ResponseFormatError, match=rf"page 3: record 1: '{field}' is missing or null"
    ):
        read(with_record(**{field: value}), page=3)


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "12abc", True, [], {}])
def test_an_amount_that_is_not_a_finite_number_is_refused(amount: object) -> None:
    with pytest.raises(il.ResponseFormatError, match="'amount' is not a finite decimal"):
        read(with_record(amount=amount))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_literals_are_refused(token: str) -> None:
    body = json.dumps(with_record()).replace("120.11", token, 1).encode()
    with pytest.raises(il.ResponseFormatError, match="not valid JSON"):
        protocol.read_response(200, {}, body, page=1)


@pytest.mark.parametrize(("field", "value"), [("linkId", 123), ("status", ""), ("linkId", [])])
def test_a_required_string_of_the_wrong_type_is_refused(field: str, value: object) -> None:
    with pytest.raises(il.ResponseFormatError, match=f"'{field}' is not a non-empty string"):
        read(with_record(**{field: value}))


def test_no_required_field_ever_becomes_the_text_none() -> None:
    # cattrs' plain str hook would turn a null into "None"; ours must refuse it.
    with pytest.raises(il.ResponseFormatError):
        read(with_record(linkId=None))


def test_unknown_status_is_kept_as_its_string() -> None:
    link = first(with_record(status="REFUNDED"))
    assert link.status == "REFUNDED"
    assert not isinstance(link.status, il.LinkStatus)


def test_known_status_is_the_enum_member_and_equals_its_string() -> None:
    link = first(with_record(status="CLAIMED"))
    assert link.status is il.LinkStatus.CLAIMED
    assert link.status == "CLAIMED"


def test_unknown_keys_are_ignored_everywhere() -> None:
    envelope = with_record(newField={"x": 1})
    envelope["data"]["meta"]["cursor"] = "abc"
    envelope["data"]["records"][0]["contactDetails"]["whatsapp"] = "yes"
    envelope["brandNew"] = True
    assert first(envelope).link_id == "657aa9841b8d3897ff0a84fb"


@pytest.mark.parametrize(
    "field",
    [
        "purpose",
        "description",
        "referenceNo",
        "orderId",
        "url",
        "qrUrl",
        "verifyBene",
        "activatedAt",
        "expiredAt",
        "contactDetails",
    ],
)
@pytest.mark.parametrize("value", [..., None])
def test_optional_fields_missing_or_null_become_none(field: str, value: object) -> None:
    link = first(with_record(**{field: value}))
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in field)
    assert getattr(link, snake) is None


def test_payment_modes_missing_null_or_odd_become_a_tuple() -> None:
    assert first(with_record(paymentModes=...)).payment_modes == ()
    assert first(with_record(paymentModes=None)).payment_modes == ()
    assert first(with_record(paymentModes="VPA")).payment_modes == ("VPA",)
    modes = first(with_record(paymentModes=["ACCOUNT", "AMZON", 7])).payment_modes
    assert modes == ("ACCOUNT", "AMZON")


@pytest.mark.parametrize("text", ["0000-00-00 00:00:00", "", "soon", "2024-13-45 99:99:99"])
def test_unparseable_datetimes_become_none(text: str) -> None:
    link = first(with_record(activatedAt=text, expiredAt=text))
    assert link.activated_at is None
    assert link.expired_at is None


def test_datetimes_are_read_as_indian_time() -> None:
    link = first(with_record(activatedAt="2024-01-31 23:30:00"))
    assert link.activated_at is not None
    assert link.activated_at.utcoffset() == IST
    assert link.activated_at.astimezone(_codec.IST.__class__.utc).isoformat() == (
        "2024-01-31T18:00:00+00:00"
    )


def test_a_datetime_with_its_own_offset_is_converted_not_relabelled() -> None:
    link = first(with_record(activatedAt="2024-01-31T18:00:00+00:00"))
    assert link.activated_at == datetime(2024, 1, 31, 23, 30, tzinfo=_codec.IST)
    assert link.activated_at is not None and link.activated_at.utcoffset() == IST


def test_a_date_without_time_is_midnight_in_india_not_naive() -> None:
    link = first(with_record(expiredAt="2024-03-13"))
    assert link.expired_at == datetime(2024, 3, 13, tzinfo=_codec.IST)


def test_a_mobile_number_sent_as_a_json_number_is_kept_as_text() -> None:
    envelope = with_record()
    envelope["data"]["records"][0]["contactDetails"]["mobile"] = 7428585742
    details = first(envelope).contact_details
    assert details is not None and details.mobile == "7428585742"


def test_verify_bene_only_takes_real_booleans() -> None:
    assert first(with_record(verifyBene=False)).verify_bene is False
    # "false" is not silently True.
    assert first(with_record(verifyBene="false")).verify_bene is None


def test_contact_details_of_the_wrong_shape_become_none() -> None:
    assert first(with_record(contactDetails="Sample Name")).contact_details is None


def test_meta_counts_may_come_as_strings() -> None:
    envelope = sample_envelope()
    envelope["data"]["meta"]["totalPages"] = "6"
    assert read(envelope).meta.total_pages == 6


@pytest.mark.parametrize("value", [None, -1, "six", True, 1.5])
def test_meta_without_a_usable_total_pages_is_a_format_error(value: object) -> None:
    envelope = sample_envelope()
    envelope["data"]["meta"]["totalPages"] = value
    with pytest.raises(il.ResponseFormatError, match="page 1: 'meta'"):
        read(envelope)


@pytest.mark.parametrize("data", [None, [], "x", {"records": []}, {"meta": None, "records": []}])
def test_a_txn_without_data_or_meta_is_a_format_error(data: object) -> None:
    envelope = sample_envelope() | {"data": data}
    with pytest.raises(il.ResponseFormatError):
        read(envelope)


def test_records_that_are_not_a_list_are_a_format_error() -> None:
    envelope = sample_envelope()
    envelope["data"]["records"] = {"0": envelope["data"]["records"][0]}
    with pytest.raises(il.ResponseFormatError, match="'records' is not a list"):
        read(envelope)


def test_a_record_that_is_not_an_object_is_named() -> None:
    envelope = sample_envelope()
    envelope["data"]["records"][1] = "657aa9841b8d3897ff0a84fb"
    with pytest.raises(il.ResponseFormatError, match="record 2 is a JSON str"):
        read(envelope)


def test_a_format_error_carries_the_ipay_uuid() -> None:
    with pytest.raises(il.ResponseFormatError) as caught:
        read(with_record(amount=None))
    assert caught.value.ipay_uuid == "h0009ad8a356-b745-4ee2-88bb-0c4abb750ed7-bQQqUjuG4ASN"
    assert str(caught.value).startswith("[h0009ad8a356")


def test_deep_nesting_is_a_format_error_not_a_crash() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(il.ResponseFormatError):
        protocol.read_response(200, {}, body, page=1)


def test_simulator_output_has_no_key_the_models_do_not_know() -> None:
    """Drift check: the simulator's records structure with extra keys forbidden."""
    strict = _codec.make_converter(forbid_extra_keys=True)
    envelope = Simulator(300, seed=3).envelope("TXN", "ok")
    records = copy.deepcopy(Simulator(300, seed=3).links)
    for record in records:
        link = strict.structure(json.loads(json.dumps(record), parse_float=Decimal), il.PayoutLink)
        assert link.link_id == record["linkId"]
    meta = {
        "totalPages": 1,
        "currentPage": 1,
        "totalRecords": 1,
        "recordsOnCurrentPage": 1,
        "recordFrom": 1,
        "recordTo": 1,
    }
    wire = [json.loads(json.dumps(record), parse_float=Decimal) for record in records[:5]]
    envelope["data"] = {"meta": meta, "records": wire}
    page = _codec.structure_page(envelope, page=1, converter=strict)
    assert page.meta.total_pages == 1
    assert len(page.records) == 5


@pytest.mark.parametrize(
    "body",
    [
        b"0e1000000000000000000",
        b'{"statuscode": "TXN", "data": {"meta": {"totalPages": 1E+600000}}}',
        b'{"statuscode": "TXN", "data": {"meta": {"totalPages": 1e-999999}}}',
    ],
)
def test_absurd_exponents_are_refused_at_once(body: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(il.ResponseFormatError):
        protocol.read_response(200, {}, body, page=1)
    assert time.perf_counter() - started < 5.0  # refused, not computed for minutes


def test_an_absurd_amount_is_refused() -> None:
    with pytest.raises(il.ResponseFormatError, match="'amount'"):
        read(with_record(amount="1E+400"))


def test_an_amount_string_with_underscores_is_refused() -> None:
    with pytest.raises(il.ResponseFormatError, match="'amount'"):
        read(with_record(amount="1_000.50"))


def test_a_datetime_at_the_edge_of_time_becomes_none() -> None:
    envelope = with_record(activatedAt="0001-01-01 00:00+05:30", expiredAt="9999-12-31T23:59-05:00")
    envelope["timestamp"] = "0001-01-01 00:00+05:30"
    page = read(envelope)
    assert page.timestamp is None
    assert page.records[0].activated_at is None
    assert page.records[0].expired_at is None


def test_a_json_error_keeps_no_copy_of_the_body_reachable() -> None:
    body = b'{"statuscode": "TXN", "data": {"records": [{"contactDetails": {"name": "Priya"'
    with pytest.raises(il.ResponseFormatError) as caught:
        protocol.read_response(200, {}, body, page=1)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


def test_a_lone_surrogate_is_not_json_to_us() -> None:
    # The standard library's parser would take it, and no UTF-8 writer could write it.
    body = json.dumps(with_record()).replace('"Sample Name"', '"Sample \\ud83d Name"', 1)
    assert "\\ud83d" in body
    with pytest.raises(il.ResponseFormatError, match="not valid JSON"):
        protocol.read_response(200, {}, body.encode(), page=1)


# The collector's switches a library must leave alone: they hold for the whole process.
GC_SWITCHES = ("disable", "enable", "freeze", "unfreeze", "set_threshold", "set_debug")


def large_pages() -> list[bytes]:
    """Pages of 1,000 links for every decode route: typed, dict (a new key), error, empty."""
    records = generate_links(1000, seed=5)
    typed = Simulator(records).envelope(
        "TXN",
        "Transaction Successful",
        {
            "meta": {
                "totalPages": 1,
                "currentPage": 1,
                "totalRecords": 1000,
                "recordsOnCurrentPage": 1000,
            },
            "records": records,
        },
    )
    drifted = copy.deepcopy(typed)
    for record in drifted["data"]["records"]:
        record["brandNewKey"] = "x"
    odd = copy.deepcopy(typed)
    odd["data"]["records"][-1]["amount"] = None
    empty = Simulator([]).envelope("ERR", "No Record Found")
    return [json.dumps(envelope).encode() for envelope in (typed, drifted, odd, empty)]


def test_decoding_a_page_leaves_the_garbage_collector_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The library reaches the collector only as gc.<name>: a call through it is recorded.
    calls: list[str] = []
    for name in GC_SWITCHES:
        monkeypatch.setattr(gc, name, lambda *args, name=name: calls.append(name))
    assert gc.isenabled()
    threshold = gc.get_threshold()
    for body in large_pages():
        with contextlib.suppress(il.ResponseFormatError):  # the odd record's page
            protocol.read_response(200, {}, body, page=1)
    assert calls == []
    assert gc.isenabled()
    assert gc.get_threshold() == threshold


def test_no_module_of_the_library_imports_the_garbage_collector() -> None:
    # What the test above cannot see: a switch imported by name (from gc import disable).
    importers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imported = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                imported = [node.module or ""]
            if "gc" in imported:
                importers.append(str(path.relative_to(PACKAGE)))
    assert importers == []
