"""Property tests: any fault schedule, any bytes, any JSON."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

import ipay_links as il
from ipay_links._core import protocol
from ipay_links.testing import Fault, Simulator

from .conftest import sample_envelope

RETRY_AFTER = 0.02
READ_TIMEOUT = 0.05
FAULTS = st.sampled_from(
    [
        Fault.hang(0),  # no fault: the normal answer
        Fault.status(503),
        Fault.html(502),
        Fault.envelope("SPD", "down"),
        Fault.rate_limit(str(RETRY_AFTER)),
        Fault.truncate(),
        Fault.reset(),
        Fault.garbage(),
        Fault.envelope("IAC", "Invalid dealer credentials"),
        Fault.hang(1.0),
    ]
)


async def walk_under(
    schedule: list[Fault], links: int, page_size: int, policy: il.RetryPolicy
) -> tuple[Simulator, list[str], il.IpayError | None, float]:
    simulator = Simulator(links, seed=links, max_page_size=page_size)
    for fault in schedule:
        simulator.inject(fault)
    got: list[str] = []
    error = None
    started = time.monotonic()
    async with (
        simulator.serve() as url,
        il.Client(
            simulator.credentials, base_url=url, retry=policy, read_timeout=READ_TIMEOUT
        ) as client,
    ):
        try:
            async for link in client.iter_links(per_page=page_size):
                got.append(link.link_id)
        except il.IpayError as exc:
            error = exc
    return simulator, got, error, time.monotonic() - started


def count_attempts(requests: list[Any]) -> int:
    """Attempts of the client behind a page's requests.

    aiohttp re-sends a GET at once when the server drops the connection without an
    answer: a reset and the request after it are one attempt.
    """
    attempts = index = 0
    while index < len(requests):
        attempts += 1
        index += 2 if requests[index].fault == "reset" else 1
    return attempts


# 20 examples: a rate-limit fault paces the rest of its walk in real time (about 0.2 s).
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    schedule=st.lists(FAULTS, max_size=10),
    links=st.integers(0, 30),
    page_size=st.integers(1, 12),
    max_tries=st.integers(1, 4),
)
def test_any_fault_schedule_yields_every_record_once_or_a_typed_error(
    schedule: list[Fault], links: int, page_size: int, max_tries: int
) -> None:
    policy = il.RetryPolicy(max_tries=max_tries, max_time=1.0, base_delay=0.001, max_delay=0.004)
    simulator, got, error, _ = asyncio.run(walk_under(schedule, links, page_size, policy))
    expected = [link["linkId"] for link in simulator.links]
    if error is None:
        assert got == expected  # every record, exactly once, in order
    else:
        assert got == expected[: len(got)]  # nothing lost or repeated before the error
        assert 1 <= error.attempts <= max_tries
    by_page: dict[int | None, list[Any]] = defaultdict(list)
    for seen in simulator.requests:
        by_page[seen.page].append(seen)
    for requests in by_page.values():
        assert count_attempts(requests) <= max_tries
        span = requests[-1].received_at - requests[0].received_at
        assert span <= policy.max_time + 2.0  # a sanity bound: no attempt after max_time
        for before, after in itertools.pairwise(requests):
            if before.fault == "rate_limit":
                assert after.received_at - before.received_at >= RETRY_AFTER


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
RECORD_VALUES = st.none() | st.booleans() | st.integers() | st.text(max_size=12) | JSON


def envelope_like() -> st.SearchStrategy[dict[str, Any]]:
    """The sample envelope with any of its values, at any depth, replaced by anything."""
    keys = ["statuscode", "status", "ipay_uuid", "timestamp", "environment", "data"]
    record_keys = list(sample_envelope()["data"]["records"][0])
    meta_keys = list(sample_envelope()["data"]["meta"])

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        envelope = sample_envelope()
        for key in draw(st.lists(st.sampled_from(keys), max_size=2)):
            envelope[key] = draw(RECORD_VALUES)
        data = envelope.get("data")
        if isinstance(data, dict) and isinstance(data.get("meta"), dict):
            for key in draw(st.lists(st.sampled_from(meta_keys), max_size=2)):
                data["meta"][key] = draw(RECORD_VALUES)
        if isinstance(data, dict) and isinstance(data.get("records"), list):
            for record in data["records"]:
                if isinstance(record, dict):
                    for key in draw(st.lists(st.sampled_from(record_keys), max_size=3)):
                        record[key] = draw(RECORD_VALUES)
        return envelope

    return build()


def outcome(body: bytes) -> il.Page | il.IpayError:
    try:
        return protocol.read_response(200, {}, body, page=1)
    except il.IpayError as error:
        return error


def assert_page_or_format_error(body: bytes) -> None:
    result = outcome(body)
    if isinstance(result, il.ApiError):
        # Only an envelope with a failure statuscode may be an API error.
        assert result.statuscode not in (None, "TXN")
        return
    assert isinstance(result, il.Page | il.ResponseFormatError)
    for link in getattr(result, "records", ()):
        assert isinstance(link.link_id, str) and link.link_id
        assert link.amount.is_finite()


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200))
def test_any_bytes_give_a_page_or_a_format_error(body: bytes) -> None:
    assert_page_or_format_error(body)


@settings(max_examples=300, deadline=None)
@given(document=JSON)
def test_any_json_gives_a_page_or_a_format_error(document: Any) -> None:
    assert_page_or_format_error(json.dumps(document).encode())


@settings(max_examples=500, deadline=None)
@given(envelope=envelope_like())
def test_any_envelope_shaped_json_gives_a_page_or_a_typed_error(envelope: dict[str, Any]) -> None:
    assert_page_or_format_error(json.dumps(envelope).encode())


def test_a_duplicate_key_is_a_format_error() -> None:
    body = json.dumps(sample_envelope()).replace('"amount": 120.11', '"amount": 1, "amount": 9', 1)
    assert body.count('"amount"') == 3
    with pytest.raises(il.ResponseFormatError, match="same key twice"):
        protocol.read_response(200, {}, body.encode(), page=1)
