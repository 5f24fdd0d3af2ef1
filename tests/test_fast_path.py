"""The fast decoding path builds exactly what the reference cattrs hooks build."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

import ipay_links as il
from ipay_links._core import codec as _codec
from ipay_links._core import protocol
from ipay_links._core.codec.drift import dict_link
from ipay_links._core.codec.duplicates import count_strings
from ipay_links._core.codec.reference import CONVERTER, reference_link
from ipay_links.testing import Simulator, generate_links

EDGE_VALUES: list[Any] = [
    None,
    "",
    "text",
    7428585742,
    12.5,
    True,
    False,
    [],
    ["ACCOUNT", 7],
    {"x": 1},
    "0000-00-00 00:00:00",
    "2024-01-31 23:30:00",
    "2024-01-31T18:00:00+00:00",
    "2024-03-13",
    "2024-01-31 23:30",
    "2024-13-45 99:99:99",
    "ISSUED",
    "REFUNDED",
    "120.10",
    "1E+40",
    -5,
]
FIELDS = list(generate_links(1)[0])
# Built once: hypothesis draws an index into them for each example.
EDGE_RECORDS = generate_links(500, seed=3)
TYPED_RECORDS = generate_links(200, seed=4)


def same(fast: object, reference: object) -> None:
    """Equal values, and equal reprs: the same types and the same time zones."""
    assert fast == reference
    assert repr(fast) == repr(reference)


def reference_or_error(raw: Any) -> il.PayoutLink | type[Exception]:
    try:
        return reference_link(raw, il.PayoutLink)
    except Exception as error:  # compared as a type below
        return type(error)


def fast_or_error(raw: Any) -> il.PayoutLink | type[Exception]:
    try:
        link, strings = dict_link(raw)
    except Exception as error:
        return type(error)
    # The strings counted for the duplicate-key check are the strings of the record.
    assert strings == count_strings(raw)
    return link


def wire(record: dict[str, Any]) -> Any:
    """A record as the parser hands it over: numbers with a fraction as Decimal."""
    return _codec.parse(json.dumps(record).encode())


def mutated(rng: random.Random, record: dict[str, Any]) -> dict[str, Any]:
    record = json.loads(json.dumps(record))
    for _ in range(rng.randint(0, 3)):
        field = rng.choice(FIELDS)
        if rng.random() < 0.2:
            record.pop(field, None)
        else:
            record[field] = rng.choice(EDGE_VALUES)
    if rng.random() < 0.1:
        record["brandNewField"] = {"nested": True}
    if rng.random() < 0.1 and isinstance(record.get("contactDetails"), dict):
        record["contactDetails"][rng.choice(["name", "email", "mobile"])] = rng.choice(EDGE_VALUES)
    return record


def test_thousands_of_generated_and_edge_records_decode_the_same_both_ways() -> None:
    rng = random.Random(2026)
    records = generate_links(3000, seed=17)
    checked = errors = 0
    for record in records:
        raw = wire(mutated(rng, record) if rng.random() < 0.5 else record)
        fast, reference = fast_or_error(raw), reference_or_error(raw)
        if isinstance(reference, type):
            errors += 1
            assert fast is reference  # the fast path raises the reference's error
        else:
            same(fast, reference)
        checked += 1
    assert checked == 3000
    assert 50 < errors < 1500  # the edge cases did reach the error paths


@settings(max_examples=400, deadline=None)
@given(
    changes=st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(EDGE_VALUES), max_size=4),
    index=st.integers(0, 499),
)
def test_any_edge_record_decodes_the_same_both_ways(changes: dict[str, Any], index: int) -> None:
    record = EDGE_RECORDS[index] | changes
    raw = wire(record)
    fast, reference = fast_or_error(raw), reference_or_error(raw)
    if isinstance(reference, type):
        assert fast is reference
    else:
        same(fast, reference)


def test_whole_pages_decode_the_same_as_the_reference() -> None:
    simulator = Simulator(1000, seed=21)
    for start in range(0, 1000, 250):
        envelope = simulator.envelope(
            "TXN",
            "Transaction Successful",
            {
                "meta": {
                    "totalPages": 4,
                    "currentPage": start // 250 + 1,
                    "totalRecords": 1000,
                    "recordsOnCurrentPage": 250,
                    "recordFrom": start + 1,
                    "recordTo": start + 250,
                },
                "records": simulator.links[start : start + 250],
            },
        )
        body = json.dumps(envelope).encode()
        fast = protocol.read_response(200, {}, body, page=1)
        reference = _codec.structure_page(_codec.decode_json(body), page=1, converter=CONVERTER)
        same(fast, reference)
        assert all(type(link.amount) is Decimal for link in fast.records)


def one_page_envelope(records: list[Any]) -> dict[str, Any]:
    """A TXN envelope holding ``records`` as the one page of the result."""
    meta = {
        "totalPages": 1,
        "currentPage": 1,
        "totalRecords": len(records),
        "recordsOnCurrentPage": len(records),
    }
    return Simulator([]).envelope("TXN", "ok", {"meta": meta, "records": records})


def one_link_envelope() -> dict[str, Any]:
    return one_page_envelope(generate_links(1))


def test_a_duplicate_key_in_a_contact_is_caught_by_the_key_count() -> None:
    envelope = one_link_envelope()
    body = json.dumps(envelope).replace('"name": ', '"name": "Mallory", "name": ', 1).encode()
    with pytest.raises(il.ResponseFormatError, match="same key twice"):
        protocol.read_response(200, {}, body, page=1)


def test_white_space_before_a_colon_still_decodes_through_the_strict_parser() -> None:
    envelope = one_link_envelope()
    body = json.dumps(envelope, indent=2).replace('"linkId":', '"linkId" :').encode()
    page = protocol.read_response(200, {}, body, page=1)
    assert page.records[0].link_id == generate_links(1)[0]["linkId"]


@pytest.mark.parametrize(
    ("find", "replace"),
    [
        ('"amount":', '"amount":1,"amount" :'),  # white space before a colon
        ('"statuscode":"TXN"', '"statuscode":"ERR","statuscode"\t:"TXN"'),
        ('"amount":', '"\\u0061mount":9,"amount":'),  # an escaped key
        ('"name":', '"name":"Mallory","name":'),
    ],
)
def test_no_duplicate_key_slips_past_the_count(find: str, replace: str) -> None:
    body = json.dumps(one_link_envelope(), separators=(",", ":"))
    assert find in body
    with pytest.raises(il.ResponseFormatError, match="same key twice"):
        protocol.read_response(200, {}, body.replace(find, replace, 1).encode(), page=1)


def test_escaped_quotes_in_values_still_decode() -> None:
    envelope = one_link_envelope()
    envelope["data"]["records"][0]["description"] = 'Refund for "order 12"'
    page = protocol.read_response(200, {}, json.dumps(envelope).encode(), page=1)
    assert page.records[0].description == 'Refund for "order 12"'


def page_body(records: list[Any], **envelope_changes: Any) -> bytes:
    return json.dumps(one_page_envelope(records) | envelope_changes).encode()


def reference_page(body: bytes) -> il.Page | type[Exception]:
    try:
        return _codec.structure_page(_codec.decode_json(body), page=1, converter=CONVERTER)
    except Exception as error:  # compared as a type
        return type(error)


def decoded_page(body: bytes) -> il.Page | type[Exception]:
    try:
        return protocol.read_response(200, {}, body, page=1)
    except Exception as error:  # compared as a type
        return type(error)


def test_typed_pages_are_the_reference_pages() -> None:
    rng = random.Random(7)
    records = generate_links(2000, seed=29)
    typed = 0
    for start in range(0, 2000, 20):
        chunk = records[start : start + 20]
        if start % 40:  # every other page has one record off the common shape, or not
            index = rng.randrange(len(chunk))
            chunk = [*chunk[:index], mutated(rng, chunk[index]), *chunk[index + 1 :]]
        body = page_body(chunk)
        reference = reference_page(body)
        fast = _codec.typed_page(body, page=1)
        if fast is not None:
            typed += 1
            same(fast, reference)
        same(decoded_page(body), reference)
    assert 50 <= typed < 100  # clean pages take the typed path, odd ones fall back


@settings(max_examples=300, deadline=None)
@given(
    changes=st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(EDGE_VALUES), max_size=3),
    index=st.integers(0, 199),
)
def test_any_record_on_the_typed_path_is_the_reference_record(
    changes: dict[str, Any], index: int
) -> None:
    body = page_body([TYPED_RECORDS[index] | changes])
    reference = reference_page(body)
    fast = _codec.typed_page(body, page=1)
    if fast is not None:
        same(fast, reference)
    decoded = decoded_page(body)
    if isinstance(reference, type):
        assert decoded is reference
    else:
        same(decoded, reference)


@pytest.mark.parametrize(
    "changes",
    [
        {"brandNewKey": {"nested": ["x"]}},  # a key the structs do not know
        {"data": None},
        {"data": {"meta": {"totalPages": 1}, "records": []}},
        {"data": {"meta": "none", "records": []}},
        {"data": {"records": []}},
        {
            "data": {
                "meta": {
                    "totalPages": 0,
                    "currentPage": 1,
                    "totalRecords": 0,
                    "recordsOnCurrentPage": 0,
                },
                "records": None,
            }
        },
        {"data": []},
        {"ipay_uuid": 12345, "timestamp": "garbage", "environment": None},
    ],
)
def test_odd_envelopes_decode_as_before(changes: dict[str, Any]) -> None:
    body = page_body(generate_links(3, seed=8), **changes)
    reference, decoded = reference_page(body), decoded_page(body)
    if isinstance(reference, type):
        assert decoded is reference
    else:
        same(decoded, reference)


def test_no_record_found_is_left_to_the_general_path() -> None:
    body = page_body([], statuscode="ERR", status="No Record Found", data=None)
    assert _codec.typed_page(body, page=1) is None
    assert protocol.read_response(200, {}, body, page=1).records == ()


def test_a_key_unknown_to_the_structs_still_counts_toward_duplicates() -> None:
    body = page_body(generate_links(2, seed=1), brandNewKey="x")
    assert _codec.typed_page(body, page=1) is None  # its strings were not read
    assert len(protocol.read_response(200, {}, body, page=1).records) == 2
    twice = body.replace(b'"linkId": ', b'"linkId": "forged", "linkId": ', 1)
    assert _codec.typed_page(twice, page=1) is None
    with pytest.raises(il.ResponseFormatError, match="same key twice"):
        protocol.read_response(200, {}, twice, page=1)


@pytest.mark.parametrize(
    "body",
    [
        b'{"statuscode":"TXN","data":{"meta":{"totalPages":1,"currentPage":1,'
        b'"totalRecords":0,"recordsOnCurrentPage":0}},"data":[]}',
        b'{"statuscode":"TXN","data":{"meta":{"totalPages":1,"currentPage":1,'
        b'"totalRecords":1,"recordsOnCurrentPage":1},"records":[{"linkId":"a","linkId":"b"}]}}',
    ],
)
def test_a_duplicate_key_is_named_even_when_the_last_value_breaks_the_page(body: bytes) -> None:
    with pytest.raises(il.ResponseFormatError, match="same key twice"):
        protocol.read_response(200, {}, body, page=1)


def test_values_nested_deeper_than_the_stack_are_counted_or_refused_cleanly() -> None:
    meta = b'{"totalPages":1,"currentPage":1,"totalRecords":0,"recordsOnCurrentPage":0}'
    for depth in (900, 100_000):
        nested = b"[" * depth + b"]" * depth
        body = b'{"statuscode":"TXN","orderid":' + nested + b',"data":{"meta":' + meta + b"}}"
        try:
            page = protocol.read_response(200, {}, body, page=1)
        except il.ResponseFormatError:
            assert depth > 900  # the parsers' own depth limit: a typed error
        else:
            assert page.meta.total_pages == 1
