"""Concurrent pages: in order, bounded, one throttle, clean on failure and on early exit."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

import pytest

import ipay_links as il
from ipay_links._throttle import Throttle
from ipay_links.testing import Fault, Simulator

from .conftest import FAST_RETRY


@pytest.fixture
def big() -> Simulator:
    return Simulator(300, seed=11, max_page_size=10)


@pytest.fixture
async def big_client(big: Simulator) -> AsyncIterator[il.Client]:
    async with big.serve() as url, il.Client(big.credentials, base_url=url, retry=FAST_RETRY) as c:
        yield c


def ids(sim: Simulator) -> list[str]:
    return [link["linkId"] for link in sim.links]


def client_tasks() -> list[asyncio.Task[object]]:
    others = asyncio.all_tasks() - {asyncio.current_task()}
    server = "RequestHandler"
    return [t for t in others if not getattr(t.get_coro(), "__qualname__", "").startswith(server)]


@pytest.mark.parametrize("concurrency", [2, 4, 8, 16])
async def test_pages_come_in_order_and_complete(
    big: Simulator, big_client: il.Client, concurrency: int
) -> None:
    big.latency = 0.005
    walk = big_client.iter_pages(per_page=10, concurrency=concurrency)
    pages = [page async for page in walk]
    assert [page.meta.current_page for page in pages] == list(range(1, 31))
    assert [link.link_id for page in pages for link in page.records] == ids(big)
    assert len(big.requests) == 30
    assert 2 <= big.max_in_flight <= concurrency
    assert walk.stats.healing_reads == 0


async def test_a_slow_consumer_slows_the_fetching(big: Simulator, big_client: il.Client) -> None:
    walk = big_client.iter_pages(per_page=10, concurrency=4)
    consumed = 0
    async for _ in walk:
        consumed += 1
        await asyncio.sleep(0.01)  # let every prefetch finish
        # The page being consumed and at most 2N - 1 after it: nothing beyond the window.
        assert len(big.requests) <= consumed + 7
        if consumed == 10:
            break
    await walk.aclose()
    assert len(big.requests) <= 17


async def test_concurrency_is_faster_against_a_slow_server(big: Simulator) -> None:
    big.latency = 0.03
    async with big.serve() as url, il.Client(big.credentials, base_url=url) as client:
        started = time.monotonic()
        async for _ in client.iter_pages(per_page=10):
            pass
        sequential = time.monotonic() - started
        started = time.monotonic()
        async for _ in client.iter_pages(per_page=10, concurrency=8):
            pass
        concurrent = time.monotonic() - started
    # 30 pages: about 0.9 s one by one, about 0.15 s eight at a time. Generous bound.
    assert concurrent < sequential / 2.5


async def test_breaking_out_cancels_what_is_in_flight(big: Simulator) -> None:
    big.latency = 0.2
    async with big.serve() as url, il.Client(big.credentials, base_url=url) as client:
        async with client.iter_links(per_page=10, concurrency=8) as walk:
            async for _ in walk:
                break
        assert client_tasks() == []
        seen = len(big.requests)
        await asyncio.sleep(0.3)
        assert len(big.requests) == seen <= 8


async def test_a_dropped_walk_stops_prefetching(big: Simulator) -> None:
    big.latency = 0.1
    async with big.serve() as url, il.Client(big.credentials, base_url=url) as client:
        async for _ in client.iter_links(per_page=10, concurrency=8):
            break  # the walk is garbage the moment the loop ends
        for _ in range(3):  # asyncio closes the dropped generator, then the tasks end
            await asyncio.sleep(0)
        assert client_tasks() == []


async def test_a_failing_page_yields_every_page_before_it_then_the_error(
    big: Simulator, big_client: il.Client
) -> None:
    big.inject(Fault.envelope("IAC", "Invalid dealer credentials"), page=5)
    got: list[str] = []

    async def consume() -> None:
        async for link in big_client.iter_links(per_page=10, concurrency=8):
            got.append(link.link_id)

    with pytest.raises(il.AuthenticationError):
        await consume()
    assert got == ids(big)[:40]
    assert client_tasks() == []


async def test_a_transient_failure_mid_walk_is_retried_in_place(
    big: Simulator, big_client: il.Client
) -> None:
    big.inject(Fault.html(502), times=2, page=7)
    walk = big_client.iter_links(per_page=10, concurrency=4)
    assert [link.link_id async for link in walk] == ids(big)
    assert walk.stats.retries == 2
    assert walk.stats.pages_fetched == 30


async def test_cancelling_a_concurrent_walk_leaves_nothing_running(big: Simulator) -> None:
    big.latency = 0.2
    async with big.serve() as url, il.Client(big.credentials, base_url=url) as client:
        walk = client.iter_links(per_page=10, concurrency=8)

        async def consume() -> None:
            async for _ in walk:
                pass

        task = asyncio.create_task(consume())
        await big.wait_for_requests(3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert client_tasks() == []


async def test_a_retry_after_on_one_page_holds_back_the_whole_walk(
    big: Simulator, big_client: il.Client
) -> None:
    big.latency = 0.01
    big.inject(Fault.rate_limit("0.3"), page=3)
    walk = big_client.iter_links(per_page=10, concurrency=8)
    assert [link.link_id async for link in walk] == ids(big)
    (limited,) = [seen for seen in big.requests if seen.fault == "rate_limit"]
    answered = limited.received_at + big.latency
    held = [s for s in big.requests if answered + 0.01 < s.received_at < answered + 0.29]
    assert held == []
    assert walk.stats.throttle_waits >= 1
    assert big.max_in_flight <= 8


async def test_throttle_halves_on_push_back_and_grows_back_one_by_one() -> None:
    throttle = Throttle(8)
    push_back = il.RateLimitError("slow down", http_status=429)
    await throttle.acquire()
    throttle.release()
    throttle.learn(push_back)
    assert throttle.limit == 4
    await throttle.acquire()
    throttle.release()
    throttle.learn(il.ServiceUnavailableError("down", http_status=503))
    assert throttle.limit == 2
    for expected in (3, 4, 5, 6, 7, 8, 8):
        await throttle.acquire()
        throttle.release()
        throttle.learn(None)
        assert throttle.limit == expected


async def test_throttle_never_lets_more_than_its_limit_in_flight() -> None:
    throttle = Throttle(3)
    peak = 0

    async def request(fail: bool) -> None:
        nonlocal peak
        await throttle.acquire()
        peak = max(peak, throttle.in_flight)
        await asyncio.sleep(0.005)
        throttle.release()
        throttle.learn(il.RateLimitError("x", http_status=429) if fail else None)

    await asyncio.gather(*(request(n % 5 == 0) for n in range(40)))
    assert peak <= 3
    assert throttle.in_flight == 0


async def test_throttle_holds_every_request_until_retry_after_has_passed() -> None:
    throttle = Throttle(4)
    await throttle.acquire()
    throttle.release()
    throttle.learn(il.RateLimitError("x", http_status=429, retry_after=0.2))
    started = time.monotonic()
    await throttle.acquire()
    assert time.monotonic() - started >= 0.19
    assert throttle.waits == 1


async def test_a_long_retry_after_on_another_page_does_not_outlast_max_time(
    big: Simulator,
) -> None:
    big.latency = 0.02
    big.inject(Fault.status(503), page=2)
    big.inject(Fault.rate_limit("3600"), page=4)
    policy = il.RetryPolicy(max_tries=5, max_time=1.0, base_delay=0.001, max_delay=0.01)
    async with big.serve() as url, il.Client(big.credentials, base_url=url, retry=policy) as c:
        started = time.monotonic()
        with pytest.raises(il.RateLimitError):
            async for _ in c.iter_links(per_page=10, concurrency=4):
                pass
    assert time.monotonic() - started < 3.0


async def test_retries_are_counted_also_when_the_page_fails_in_the_end(
    big: Simulator, big_client: il.Client
) -> None:
    big.inject(Fault.status(503), times=3, page=2)  # FAST_RETRY tries a page 3 times
    walk = big_client.iter_pages(per_page=10)
    with pytest.raises(il.ServiceUnavailableError):
        async for _ in walk:
            pass
    assert walk.stats.retries == 2
    assert walk.stats.pages_fetched == 1


async def test_the_first_n_pages_are_asked_for_before_the_first_answer(
    big: Simulator, big_client: il.Client
) -> None:
    big.latency = 0.05
    walk = big_client.iter_pages(per_page=10, concurrency=4)
    assert len([page async for page in walk]) == 30
    first = {seen.page: seen.received_at for seen in big.requests[:4]}
    assert set(first) == {1, 2, 3, 4}
    # Pages 2-4 left before page 1 was answered: no round trip spent learning totalPages.
    assert max(first.values()) < first[1] + big.latency
    assert len(big.requests) == 30


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_result_smaller_than_the_fan_out_costs_at_most_n_requests(
    concurrency: int,
) -> None:
    small = Simulator(15, seed=5, max_page_size=10)
    small.latency = 0.01
    async with small.serve() as url, il.Client(small.credentials, base_url=url) as client:
        walk = client.iter_links(per_page=10, concurrency=concurrency)
        assert [link.link_id async for link in walk] == ids(small)
        # Let any request still on the wire be seen before counting.
        await asyncio.sleep(0.05)
    assert {seen.page for seen in small.requests} <= {1, 2, 3, 4}
    assert len(small.requests) == (2 if concurrency == 1 else 4)
    assert walk.stats.records_yielded == 15
    assert client_tasks() == []


async def test_strict_walks_never_ask_ahead(big: Simulator, big_client: il.Client) -> None:
    big.latency = 0.005
    walk = big_client.iter_pages(per_page=10, concurrency=8, consistency="strict")
    async for _ in walk:
        break
    await walk.aclose()
    assert [seen.page for seen in big.requests] == [1]


async def test_a_freed_slot_goes_to_the_longest_waiter_and_wakes_no_other() -> None:
    throttle = Throttle(1)
    await throttle.acquire()
    order: list[int] = []

    async def request(number: int) -> None:
        await throttle.acquire()
        order.append(number)

    waiters = [asyncio.create_task(request(n)) for n in range(5)]
    await asyncio.sleep(0)
    for _ in range(5):
        throttle.release()
        assert throttle.in_flight == 1  # counted for the waiter before it even runs
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert throttle.in_flight == 1  # handed over, never two at once
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2, 3, 4]


async def test_a_waiter_cancelled_as_it_is_handed_a_slot_passes_it_on() -> None:
    throttle = Throttle(1)
    await throttle.acquire()
    first = asyncio.create_task(throttle.acquire())
    second = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0)
    throttle.release()  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(second, timeout=1)  # the slot moved on instead of leaking
    assert first.cancelled()
    assert throttle.in_flight == 1
    throttle.release()
    assert throttle.in_flight == 0


async def test_a_cancelled_waiter_does_not_hold_up_the_queue() -> None:
    throttle = Throttle(1)
    await throttle.acquire()
    gone = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    throttle.release()
    await asyncio.wait_for(throttle.acquire(), timeout=1)
    assert throttle.in_flight == 1


async def test_the_request_a_freed_slot_lets_go_leaves_before_the_page_is_decoded(
    big: Simulator,
) -> None:
    import aiohttp

    events: list[tuple[str, int]] = []

    async def on_chunk_sent(
        _s: object, _c: object, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        events.append(("sent", int(json.loads(params.chunk)["pagination"]["pageNumber"])))

    class Decoded(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if isinstance(record.args, tuple) and "page=%d attempt" in str(record.msg):
                page = record.args[2]
                assert isinstance(page, int)
                events.append(("decoded", page))

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(on_chunk_sent)
    handler = Decoded(logging.DEBUG)
    logger = logging.getLogger("ipay_links")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    big.latency = 0.01
    try:
        async with (
            big.serve() as url,
            aiohttp.ClientSession(trace_configs=[trace]) as session,
            il.Client(big.credentials, base_url=url, session=session) as client,
        ):
            walk = client.iter_pages(per_page=10, concurrency=2)
            assert len([page async for page in walk]) == 30
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    # When page q's answer frees its slot, page q + 2 (waiting for it) is sent before
    # page q is decoded: decoding never holds a request back.
    for q in range(3, 29):  # pages 3 and 4 are asked for once page 1 tells the total
        assert events.index(("sent", q + 2)) < events.index(("decoded", q)), q


async def test_max_items_bounds_the_first_fan_out(big: Simulator, big_client: il.Client) -> None:
    big.latency = 0.01
    walk = big_client.iter_links(per_page=10, concurrency=8, max_items=15)
    assert [link.link_id async for link in walk] == ids(big)[:15]
    assert sorted(seen.page for seen in big.requests) == [1, 2]


async def test_link_by_link_anext_calls_keep_the_prefetching(
    big: Simulator, big_client: il.Client
) -> None:
    big.latency = 0.005
    walk = big_client.iter_links(per_page=10, concurrency=4)
    got = [(await walk.__anext__()).link_id for _ in range(35)]
    await walk.aclose()
    assert got == ids(big)[:35]
    # (requests cancelled by aclose() before their body was read have no page)
    pages = [seen.page for seen in big.requests if seen.page is not None]
    assert len(pages) == len(set(pages)), f"pages asked twice: {pages}"
