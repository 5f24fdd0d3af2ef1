"""The transport seam: retries and walks over an in-memory transport, no socket.

The same behaviours run over a real socket in test_resilience.py and test_walk.py;
here the answers are scripted and the clock is fake, so every wait is exact.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

import ipay_links as il
from ipay_links._core.protocol import Request
from ipay_links._io.transport import OnHead, Response
from ipay_links.testing import FakeClock, Simulator

CREDENTIALS = Simulator(1).credentials


class ScriptedTransport:
    """Answers each request with the next item of ``script`` (an answer or an error)."""

    def __init__(self, script: Sequence[Response | il.IpayError]) -> None:
        self.script = list(script)
        self.sent: list[tuple[Request, float]] = []
        self.closed = False

    async def send(
        self, request: Request, *, time_left: float, on_head: OnHead | None = None
    ) -> Response:
        self.sent.append((request, time_left))
        await asyncio.sleep(0)
        answer = self.script.pop(0)
        if isinstance(answer, il.IpayError):
            raise answer
        if on_head is not None:
            on_head(answer[0], answer[1])
        return answer

    async def aclose(self) -> None:
        self.closed = True


class SimulatorTransport(ScriptedTransport):
    """Answers as the simulator would, without serving it."""

    def __init__(self, simulator: Simulator) -> None:
        super().__init__([])
        self.simulator = simulator

    async def send(
        self, request: Request, *, time_left: float, on_head: OnHead | None = None
    ) -> Response:
        self.sent.append((request, time_left))
        await asyncio.sleep(0)
        status, envelope = self.simulator.answer(request.method, request.headers, request.body)
        return status, {}, json.dumps(envelope).encode()


def envelope(code: str, data: Any = None) -> bytes:
    body = {"statuscode": code, "status": "a message", "data": data, "ipay_uuid": "u-1"}
    return json.dumps(body).encode()


def page_of(simulator: Simulator, page: int = 1, per_page: int = 5) -> bytes:
    raw = json.dumps({"pagination": {"pageNumber": str(page), "recordsPerPage": str(per_page)}})
    headers: Mapping[str, str] = {
        "X-Ipay-Auth-Code": "1",
        "X-Ipay-Client-Id": simulator.credentials.client_id,
        "X-Ipay-Client-Secret": simulator.credentials.client_secret,
        "X-Ipay-Endpoint-Ip": "127.0.0.1",
        "Content-Type": "application/json",
    }
    return json.dumps(simulator.answer("GET", headers, raw.encode())[1]).encode()


POLICY = il.RetryPolicy(max_tries=4, max_time=60.0, base_delay=0.5, max_delay=8.0)


async def test_transient_failures_are_retried_with_backoff_waits_on_the_clock() -> None:
    simulator = Simulator(12, seed=3)
    transport = ScriptedTransport(
        [
            (503, {}, b"<html>down</html>"),
            il.TransportError("the request timed out"),
            (200, {}, envelope("SPD")),
            (200, {}, page_of(simulator)),
        ]
    )
    clock = FakeClock()
    async with il.Client(CREDENTIALS, transport=transport, retry=POLICY, clock=clock) as client:
        page = await client.fetch_page(per_page=5)
    assert [link.link_id for link in page.records] == [
        link["linkId"] for link in simulator.links[:5]
    ]
    assert len(transport.sent) == 4
    # The n-th wait lies between half and all of min(0.5 * 2**n, 8).
    for n, wait in enumerate(clock.sleeps):
        assert 0.25 * 2**n <= wait <= 0.5 * 2**n
    # Each attempt is given what is left of max_time, waits taken off.
    lefts = [left for _, left in transport.sent]
    assert lefts[0] == 60.0
    assert lefts[3] == pytest.approx(60.0 - sum(clock.sleeps))
    assert transport.closed


async def test_retry_after_is_waited_exactly_and_the_last_failure_is_raised() -> None:
    transport = ScriptedTransport(
        [(429, {"Retry-After": "2"}, b"")] * 3 + [(200, {}, envelope("IAC"))]
    )
    clock = FakeClock()
    client = il.Client(CREDENTIALS, transport=transport, retry=POLICY, clock=clock)
    with pytest.raises(il.AuthenticationError) as caught:
        await client.fetch_page()
    assert clock.sleeps == [2.0, 2.0, 2.0]
    assert caught.value.attempts == 4
    await client.aclose()


async def test_a_permanent_failure_costs_one_request() -> None:
    transport = ScriptedTransport([(200, {}, envelope("RPI"))])
    clock = FakeClock()
    client = il.Client(CREDENTIALS, transport=transport, retry=POLICY, clock=clock)
    with pytest.raises(il.ApiError, match="RPI"):
        await client.fetch_page()
    assert len(transport.sent) == 1
    assert clock.sleeps == []
    await client.aclose()


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_walk_over_an_in_memory_transport_yields_every_link(concurrency: int) -> None:
    simulator = Simulator(47, seed=2)
    transport = SimulatorTransport(simulator)
    async with il.Client(simulator.credentials, transport=transport) as client:
        walk = client.iter_links(per_page=10, concurrency=concurrency)
        assert [link.link_id async for link in walk] == [link["linkId"] for link in simulator.links]
    pages = [json.loads(request.body)["pagination"]["pageNumber"] for request, _ in transport.sent]
    assert sorted(pages) == ["1", "2", "3", "4", "5"]


def test_a_session_and_a_transport_cannot_both_be_given() -> None:
    with pytest.raises(ValueError, match="session or a transport"):
        il.Client(CREDENTIALS, transport=ScriptedTransport([]), session=object())  # type: ignore[arg-type]


async def test_retry_none_still_bounds_its_one_attempt_by_the_default_max_time() -> None:
    transport = ScriptedTransport([(503, {}, b"")])
    clock = FakeClock()
    async with il.Client(CREDENTIALS, transport=transport, retry=None, clock=clock) as client:
        with pytest.raises(il.ServiceUnavailableError):
            await client.fetch_page()
    ((_, time_left),) = transport.sent
    assert time_left == il.RetryPolicy().max_time == 120.0


async def test_a_wait_for_the_walks_hold_is_taken_from_the_pages_max_time() -> None:
    from ipay_links._core.protocol import make_query
    from ipay_links._io.throttle import Throttle

    simulator = Simulator(12, seed=3)
    transport = ScriptedTransport([(200, {}, page_of(simulator))])
    clock = FakeClock()
    policy = il.RetryPolicy(max_tries=2, max_time=2.0, base_delay=0.001)
    throttle = Throttle(2, clock)
    throttle.push_back(1.5)  # another page's Retry-After holds the walk 1.5 s
    async with il.Client(CREDENTIALS, transport=transport, retry=policy, clock=clock) as client:
        await client._fetch(make_query(per_page=5), 1, throttle)
    ((_, time_left),) = transport.sent
    assert time_left == pytest.approx(0.5)  # sent with what the hold left, not 2 s


def test_a_checkpoint_with_values_no_walk_writes_is_refused() -> None:
    for data, message in [
        ({"next_page": 0, "query": {"per_page": 10}}, "next_page must be at least 1"),
        (
            {"next_page": 2, "query": {"per_page": 10}, "page_size": 0},
            "page_size must be at least 1",
        ),
        ({"next_page": 2, "query": {"per_page": 10}, "total_records": -1}, "total_records"),
    ]:
        with pytest.raises(ValueError, match=message):
            il.Checkpoint.from_dict(data)
