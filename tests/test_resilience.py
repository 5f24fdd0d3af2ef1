"""Retries that honour the server, bounded in tries and time, and typed failures."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

import ipay_links as il
from ipay_links._core import protocol
from ipay_links.testing import FakeClock, Fault, Simulator

from .conftest import DATA, FAST_RETRY


@asynccontextmanager
async def make_client(sim: Simulator, **kwargs: object) -> AsyncIterator[il.Client]:
    assert sim.url is not None
    options: dict[str, object] = {"retry": FAST_RETRY} | kwargs
    async with il.Client(sim.credentials, base_url=sim.url, **options) as client:  # type: ignore[arg-type]
        yield client


RETRIED = [
    pytest.param(Fault.truncate(), il.TransportError, id="truncated-body"),
    pytest.param(Fault.status(408), il.ServiceUnavailableError, id="http-408"),
    pytest.param(Fault.rate_limit("0"), il.RateLimitError, id="http-429"),
    pytest.param(Fault.status(500), il.ServiceUnavailableError, id="http-500"),
    pytest.param(Fault.html(502), il.ServiceUnavailableError, id="html-502"),
    pytest.param(Fault.status(503), il.ServiceUnavailableError, id="http-503"),
    pytest.param(Fault.status(504), il.ServiceUnavailableError, id="http-504"),
    *[
        pytest.param(Fault.envelope(code, "try later"), il.ServiceUnavailableError, id=code)
        for code in sorted(protocol.TRANSIENT_CODES)
    ],
]


@pytest.mark.parametrize(("fault", "error"), RETRIED)
async def test_a_transient_failure_is_retried_until_the_page_arrives(
    simulator: Simulator, base_url: str, fault: Fault, error: type[il.IpayError]
) -> None:
    simulator.inject(fault, times=2)
    async with make_client(simulator) as client:
        page = await client.fetch_page(per_page=5)
    assert len(page.records) == 5
    assert [seen.fault for seen in simulator.requests] == [fault.kind, fault.kind, None]


@pytest.mark.parametrize(("fault", "error"), RETRIED)
async def test_after_the_last_try_the_typed_error_carries_the_attempts(
    simulator: Simulator, base_url: str, fault: Fault, error: type[il.IpayError]
) -> None:
    simulator.inject(fault, times=3)
    async with make_client(simulator) as client:
        with pytest.raises(error) as caught:
            await client.fetch_page()
    assert caught.value.attempts == 3
    assert "after 3 attempts" in str(caught.value)
    assert len(simulator.requests) == 3


async def test_a_connection_reset_is_retried(simulator: Simulator, base_url: str) -> None:
    # aiohttp itself re-sends a GET once when the server drops the connection without
    # an answer (RFC 9112 allows it): each of our attempts costs two resets.
    simulator.inject(Fault.reset(), times=2)
    async with make_client(simulator) as client:
        page = await client.fetch_page(per_page=5)
    assert len(page.records) == 5
    assert [seen.fault for seen in simulator.requests] == ["reset", "reset", None]


async def test_connection_resets_until_the_last_try_give_a_transport_error(
    simulator: Simulator, base_url: str
) -> None:
    simulator.inject(Fault.reset(), times=6)
    async with make_client(simulator) as client:
        with pytest.raises(il.TransportError, match="ServerDisconnectedError") as caught:
            await client.fetch_page()
    assert caught.value.attempts == 3
    assert len(simulator.requests) == 6


async def test_a_per_attempt_timeout_is_retried(simulator: Simulator, base_url: str) -> None:
    simulator.inject(Fault.hang(5.0))
    async with make_client(simulator, read_timeout=0.1) as client:
        page = await client.fetch_page(per_page=3)
    assert len(page.records) == 3
    # The first request was given up after 0.1 s without a byte, not waited out for 5 s.
    assert [seen.fault for seen in simulator.requests] == ["hang", None]


async def test_a_server_that_never_answers_costs_the_timeout_times_the_tries(
    simulator: Simulator, base_url: str
) -> None:
    simulator.inject(Fault.hang(30.0), times=3)
    async with make_client(simulator, read_timeout=0.15) as client:
        started = time.monotonic()
        with pytest.raises(il.TransportError, match="timed out") as caught:
            await client.fetch_page()
    elapsed = time.monotonic() - started
    assert caught.value.attempts == 3
    assert 0.45 <= elapsed < 20.0  # three timeouts of 0.15 s; never one 30 s hang


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_retried_then_a_transport_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with il.Client(Simulator(1).credentials, base_url=url, retry=FAST_RETRY) as client:
        with pytest.raises(il.TransportError, match="ClientConnectorError") as caught:
            await client.fetch_page()
    assert caught.value.attempts == 3
    assert caught.value.retryable


NOT_RETRIED = [
    pytest.param(Fault.status(400), il.ApiError, id="http-400"),
    pytest.param(Fault.status(401), il.AuthenticationError, id="http-401"),
    pytest.param(Fault.status(403), il.AuthenticationError, id="http-403"),
    pytest.param(Fault.status(404), il.ApiError, id="http-404"),
    pytest.param(Fault.status(422), il.ApiError, id="http-422"),
    pytest.param(Fault.status(501), il.ServiceUnavailableError, id="http-501"),
    pytest.param(Fault.redirect("https://example.invalid/x", 301), il.ApiError, id="http-301"),
    pytest.param(Fault.redirect("https://example.invalid/x", 302), il.ApiError, id="http-302"),
    pytest.param(Fault.redirect("https://example.invalid/x", 307), il.ApiError, id="http-307"),
    pytest.param(Fault.garbage(), il.ResponseFormatError, id="garbage-json"),
    pytest.param(Fault.oversized(40_000), il.ResponseFormatError, id="oversized"),
    pytest.param(
        Fault.oversized(40_000, chunked=True), il.ResponseFormatError, id="oversized-chunked"
    ),
    *[
        pytest.param(Fault.envelope(code, "refused"), il.AuthenticationError, id=code)
        for code in sorted(protocol.AUTH_CODES)
    ],
    *[
        pytest.param(Fault.envelope(code, "bad request"), il.ApiError, id=code)
        for code in ("RPI", "IRT", "IEC", "ERR", "TUP", "XYZ")
    ],
    pytest.param(
        Fault.envelope("IAC", "refused", http_status=503), il.AuthenticationError, id="IAC-503"
    ),
]


@pytest.mark.parametrize(("fault", "error"), NOT_RETRIED)
async def test_a_permanent_failure_costs_exactly_one_request(
    simulator: Simulator, base_url: str, fault: Fault, error: type[il.IpayError]
) -> None:
    simulator.inject(fault, times=3)
    async with make_client(simulator, max_response_size=20_000) as client:
        with pytest.raises(error) as caught:
            await client.fetch_page()
    assert type(caught.value) is error
    assert caught.value.attempts == 1
    assert not caught.value.retryable
    assert len(simulator.requests) == 1


async def test_a_tls_certificate_failure_is_not_retried(simulator: Simulator) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(DATA / "selfsigned.crt", DATA / "selfsigned.key")
    async with simulator.serve(ssl_context=context) as url:
        assert url.startswith("https://")
        async with il.Client(simulator.credentials, base_url=url, retry=FAST_RETRY) as client:
            with pytest.raises(il.TransportError, match="TLS") as caught:
                await client.fetch_page()
    assert caught.value.attempts == 1
    assert simulator.requests == []


async def test_the_simulator_serves_tls_to_a_client_that_trusts_it(simulator: Simulator) -> None:
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(DATA / "selfsigned.crt", DATA / "selfsigned.key")
    trusting = ssl.create_default_context(cafile=DATA / "selfsigned.crt")
    async with simulator.serve(ssl_context=server_side) as url:
        connector = aiohttp.TCPConnector(ssl=trusting)
        async with aiohttp.ClientSession(connector=connector) as session:
            client = il.Client(simulator.credentials, base_url=url, session=session)
            page = await client.fetch_page(per_page=2)
    assert len(page.records) == 2


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.rate_limit("0.3"), id="retry-after-seconds"),
        pytest.param(Fault.rate_limit("300", header="retry-after-ms"), id="retry-after-ms"),
        pytest.param(Fault.rate_limit("0.3", http_status=503), id="retry-after-on-503"),
    ],
)
async def test_retry_after_is_waited_exactly_not_shortened(
    simulator: Simulator, base_url: str, fault: Fault
) -> None:
    simulator.inject(fault)
    clock = FakeClock()
    # Backoff alone would wait at most 4 ms: only Retry-After explains this wait.
    async with make_client(simulator, clock=clock) as client:
        await client.fetch_page()
    assert clock.sleeps == [0.3]
    assert len(simulator.requests) == 2


async def test_retry_after_as_an_http_date_is_honoured(simulator: Simulator, base_url: str) -> None:
    from email.utils import formatdate

    simulator.inject(Fault.rate_limit(formatdate(time.time() + 100, usegmt=True)))
    clock = FakeClock()
    policy = il.RetryPolicy(max_tries=3, max_time=600.0, base_delay=0.001)
    async with make_client(simulator, retry=policy, clock=clock) as client:
        await client.fetch_page()
    # The date has one-second resolution: the wait is 99 to 100 s, never backoff's 4 ms.
    (wait,) = clock.sleeps
    assert 98.0 <= wait <= 100.0


async def test_an_http_date_retry_after_is_counted_from_the_clocks_wall_time(
    simulator: Simulator, base_url: str
) -> None:
    from email.utils import formatdate

    wall = 1_800_000_000.0
    simulator.inject(Fault.rate_limit(formatdate(wall + 42, usegmt=True)))
    clock = FakeClock(wall=wall)
    clock.advance(12.0)  # the fake wall time moves on with the fake time, not the real one
    policy = il.RetryPolicy(max_tries=3, max_time=600.0, base_delay=0.001)
    async with make_client(simulator, retry=policy, clock=clock) as client:
        await client.fetch_page()
    assert clock.sleeps == [30.0]
    assert len(simulator.requests) == 2


async def test_a_retry_after_beyond_the_budget_gives_up_at_once(
    simulator: Simulator, base_url: str
) -> None:
    simulator.inject(Fault.rate_limit("30"))
    clock = FakeClock()
    policy = il.RetryPolicy(max_tries=5, max_time=2.0, base_delay=0.001)
    async with make_client(simulator, retry=policy, clock=clock) as client:
        with pytest.raises(il.RateLimitError) as caught:
            await client.fetch_page()
    assert clock.sleeps == []  # not a moment spent waiting for what cannot come in time
    assert caught.value.retry_after == 30.0
    assert len(simulator.requests) == 1


async def test_max_time_bounds_a_page_and_no_wait_overruns_it(
    simulator: Simulator, base_url: str
) -> None:
    simulator.inject(Fault.status(503), times=1000)
    clock = FakeClock()
    policy = il.RetryPolicy(max_tries=1000, max_time=0.6, base_delay=0.05, max_delay=0.1)
    async with make_client(simulator, retry=policy, clock=clock) as client:
        with pytest.raises(il.ServiceUnavailableError) as caught:
            await client.fetch_page()
    assert 3 <= caught.value.attempts == len(simulator.requests) < 1000
    assert caught.value.http_status == 503
    assert sum(clock.sleeps) < 0.6  # no wait was started that would end past max_time


async def test_no_attempt_starts_once_max_time_has_run_out(
    simulator: Simulator, base_url: str
) -> None:
    simulator.inject(Fault.status(503), times=1000)
    # A busy machine: every wait ends 0.25 s late. The third one ends past max_time.
    clock = FakeClock(overshoot=0.25)
    policy = il.RetryPolicy(max_tries=1000, max_time=0.6, base_delay=0.001, max_delay=0.001)
    async with make_client(simulator, retry=policy, clock=clock) as client:
        with pytest.raises(il.ServiceUnavailableError) as caught:
            await client.fetch_page()
    # The 503 it kept getting, not a timeout of an attempt that had no time left.
    assert caught.value.http_status == 503
    assert caught.value.attempts == len(simulator.requests) == 3
    assert len(clock.sleeps) == 3
    assert "after 3 attempts" in str(caught.value)


def test_backoff_waits_stay_between_half_and_all_of_the_cap() -> None:
    policy = il.RetryPolicy()
    for retry in range(12):
        cap = min(0.5 * 2**retry, 8.0)
        waits = [policy.backoff_delay(retry) for _ in range(200)]
        assert all(cap / 2 <= wait <= cap for wait in waits)
        assert max(waits) - min(waits) > cap / 10  # jittered, not fixed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tries": 0}, "max_tries must be at least 1"),
        ({"max_time": 0}, "max_time must be at least"),
        ({"base_delay": -1}, "base_delay must be at least 0"),
        ({"max_tries": 2.5}, "max_tries must be an int"),
        ({"max_time": "60"}, "max_time must be a number"),
    ],
)
def test_retry_policy_refuses_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        il.RetryPolicy(**kwargs)  # type: ignore[arg-type]


class StoppedClock:
    """A clock whose sleeps never end by themselves: only a cancellation ends them."""

    def __init__(self) -> None:
        self.sleeping = asyncio.Event()

    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        await asyncio.Event().wait()


async def test_cancelling_during_a_backoff_sleep_ends_at_once_and_sends_nothing_more(
    simulator: Simulator, base_url: str
) -> None:
    simulator.inject(Fault.rate_limit("10"))
    clock = StoppedClock()
    policy = il.RetryPolicy(max_time=60.0)
    async with make_client(simulator, retry=policy, clock=clock) as client:
        task = asyncio.create_task(client.fetch_page())
        await clock.sleeping.wait()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
        assert task in done and task.cancelled()
    assert len(simulator.requests) == 1


async def test_cancelling_a_walk_during_a_request_is_not_retried(
    simulator: Simulator, base_url: str
) -> None:
    simulator.inject(Fault.hang(10.0))
    async with make_client(simulator) as client:

        async def walk() -> None:
            async for _ in client.iter_links():
                pass

        task = asyncio.create_task(walk())
        await simulator.wait_for_requests(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # A retry would come from the walk's task, now over, or from a task it left behind:
        # none is left but the server's handler of the hanging request.
        left = asyncio.all_tasks() - {asyncio.current_task()}
        assert all("RequestHandler" in repr(t.get_coro()) for t in left), left
    assert len(simulator.requests) == 1


async def test_each_attempt_logs_debug_and_each_retry_a_warning(
    simulator: Simulator, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.inject(Fault.envelope("SPD", "Service provider downtime"))
    caplog.set_level(logging.DEBUG, logger="ipay_links")
    async with make_client(simulator) as client:
        page = await client.fetch_page(3, per_page=5)
    records = [r for r in caplog.records if r.name == "ipay_links"]
    debug = [r.getMessage() for r in records if r.levelno == logging.DEBUG]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(debug) == 2
    assert (
        "GET /payments/payout/link/list page=3 attempt=1 http_status=200 statuscode=SPD" in debug[0]
    )
    assert f"attempt=2 http_status=200 statuscode=TXN ipay_uuid={page.ipay_uuid}" in debug[1]
    assert "elapsed_ms=" in debug[1]
    assert len(warnings) == 1
    assert "retrying page 3 in" in warnings[0]
    assert "SPD: Service provider downtime" in warnings[0]


async def test_no_attempt_starts_with_a_sliver_of_max_time_left(
    simulator: Simulator, base_url: str
) -> None:
    simulator.inject(Fault.rate_limit("1.9995"))
    clock = FakeClock()
    policy = il.RetryPolicy(max_tries=5, max_time=2.0, base_delay=0.001)
    async with make_client(simulator, retry=policy, clock=clock) as client:
        with pytest.raises(il.RateLimitError) as caught:
            await client.fetch_page()
    # An attempt with 0.5 ms left could only time out: the 429 is the answer.
    assert caught.value.retry_after == pytest.approx(1.9995)
    assert clock.sleeps == []
    assert len(simulator.requests) == 1


@pytest.mark.parametrize("name", ["base_delay", "max_delay"])
def test_retry_policy_refuses_infinite_delays(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be finite"):
        il.RetryPolicy(**{name: float("inf")})  # type: ignore[arg-type]
