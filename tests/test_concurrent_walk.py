"""Concurrent pages: in order, bounded, one throttle, clean on failure and on early exit."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

import ipay_links as il
from ipay_links._io.throttle import Throttle
from ipay_links.testing import FakeClock, Fault, Simulator

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
        # While a page is consumed its window is read, and nothing beyond it: the first N
        # pages before page 1's totals are known, then the page and the 2N - 1 after it.
        window = 4 if consumed == 1 else consumed + 7
        await big.wait_for_requests(window)
        assert len(big.requests) == window
        if consumed == 10:
            break
    await walk.aclose()
    assert len(big.requests) <= 17


async def test_a_concurrent_walk_has_n_requests_on_the_wire_before_any_answer(
    big: Simulator, big_client: il.Client
) -> None:
    big.pause()  # nothing is answered until eight requests are waiting at once
    walk = asyncio.create_task(pages_of(big_client.iter_pages(per_page=10, concurrency=8)))
    await big.wait_for_requests(8)
    assert big.in_flight == 8
    big.resume()
    assert len(await walk) == 30
    assert big.max_in_flight == 8


async def test_a_sequential_walk_waits_for_each_answer(
    big: Simulator, big_client: il.Client
) -> None:
    big.pause()
    walk = asyncio.create_task(pages_of(big_client.iter_pages(per_page=10)))
    await big.wait_for_requests(1)
    for _ in range(20):  # however long it is left alone, no second request leaves
        await asyncio.sleep(0)
    assert big.request_count == 1
    big.resume()
    assert len(await walk) == 30
    assert big.max_in_flight == 1


async def pages_of(walk: il.PageWalk) -> list[il.Page]:
    return [page async for page in walk]


async def test_breaking_out_cancels_what_is_in_flight(big: Simulator) -> None:
    big.latency = 0.2
    async with big.serve() as url, il.Client(big.credentials, base_url=url) as client:
        async with client.iter_links(per_page=10, concurrency=8) as walk:
            async for _ in walk:
                break
        # Nothing of the walk is left that could send a request later.
        assert client_tasks() == []
        seen = len(big.requests)
    assert len(big.requests) == seen <= 8  # and the server, stopped, saw nothing more


async def test_a_dropped_walk_stops_prefetching(big: Simulator) -> None:
    big.pause()  # nothing ever answered: a prefetch that is not cancelled never ends
    async with big.serve() as url, il.Client(big.credentials, base_url=url) as client:
        walk = client.iter_links(per_page=10, concurrency=8)
        consume = asyncio.create_task(first_link(walk))
        await big.wait_for_requests(8)
        prefetching = client_tasks()
        assert len(prefetching) >= 8
        consume.cancel()
        del walk  # the walk is garbage: asyncio closes it and its prefetching stops
        done, pending = await asyncio.wait(prefetching, timeout=10)
        assert pending == set()
        assert all(task.cancelled() for task in done)
        assert client_tasks() == []
        big.resume()


async def first_link(walk: il.LinkWalk) -> None:
    async for _ in walk:
        break


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
    big.pause()
    async with big.serve() as url, il.Client(big.credentials, base_url=url) as client:
        walk = client.iter_links(per_page=10, concurrency=8)

        async def consume() -> None:
            async for _ in walk:
                pass

        task = asyncio.create_task(consume())
        await big.wait_for_requests(8)
        running = client_tasks()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Every request the walk had started is cancelled, none is left to finish.
        done, pending = await asyncio.wait(running, timeout=10)
        assert pending == set()
        assert all(t.cancelled() for t in done)
        assert client_tasks() == []
        big.resume()


def trace_requests(clock: FakeClock, events: list[tuple[str, int, float]]) -> aiohttp.TraceConfig:
    """Log each request of a session as it starts and as its status line arrives, in order.

    Each event is ``(what, page, clock time)``; the page number is read from the body.
    """
    trace = aiohttp.TraceConfig()

    async def on_start(_s: object, context: Any, _p: object) -> None:
        context.start = len(events)
        events.append(("start", 0, clock.now()))

    async def on_chunk_sent(
        _s: object, context: Any, params: aiohttp.TraceRequestChunkSentParams
    ) -> None:
        page = int(json.loads(params.chunk)["pagination"]["pageNumber"])
        context.page = page
        events[context.start] = ("start", page, events[context.start][2])

    async def on_end(_s: object, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        events.append((f"answered {params.response.status}", context.page, clock.now()))

    trace.on_request_start.append(on_start)
    trace.on_request_chunk_sent.append(on_chunk_sent)
    trace.on_request_end.append(on_end)
    return trace


@pytest.mark.parametrize("http_status", [429, 503])
async def test_a_retry_after_on_one_page_holds_back_the_whole_walk(
    big: Simulator, http_status: int
) -> None:
    clock = FakeClock()
    events: list[tuple[str, int, float]] = []
    big.latency = 0.01  # the answers of the first eight pages arrive together
    big.inject(Fault.rate_limit("0.3", http_status=http_status), page=3)
    async with (
        big.serve() as url,
        aiohttp.ClientSession(trace_configs=[trace_requests(clock, events)]) as session,
        il.Client(
            big.credentials, base_url=url, session=session, retry=FAST_RETRY, clock=clock
        ) as client,
    ):
        walk = client.iter_links(per_page=10, concurrency=8)
        assert [link.link_id async for link in walk] == ids(big)
    pushed_back = events.index((f"answered {http_status}", 3, 0.0))
    # From the moment the status line said so, no request left before the hold ended:
    # not even one whose slot was freed by an answer that arrived beside it.
    started_after = [event for event in events[pushed_back:] if event[0] == "start"]
    assert started_after
    assert all(when >= 0.3 for _, _, when in started_after), started_after
    assert 0.3 in clock.sleeps  # the hold, waited exactly
    assert walk.stats.throttle_waits >= 1
    assert walk.stats.retries == 1
    assert big.max_in_flight <= 8


async def test_throttle_halves_on_push_back_and_grows_back_one_by_one() -> None:
    throttle = Throttle(8, FakeClock())
    await throttle.acquire()
    throttle.hear(429, {})
    throttle.release()
    throttle.learn(il.RateLimitError("slow down", http_status=429))  # heard already
    assert throttle.limit == 4
    await throttle.acquire()
    throttle.hear(503, {})
    throttle.release()
    assert throttle.limit == 2
    await throttle.acquire()
    throttle.hear(200, {})
    throttle.release()
    throttle.learn(il.ServiceUnavailableError("SPD: down", statuscode="SPD", http_status=200))
    assert throttle.limit == 1
    for expected in (2, 3, 4, 5, 6, 7, 8, 8):
        await throttle.acquire()
        throttle.release()
        throttle.learn(None)
        assert throttle.limit == expected


async def test_throttle_never_lets_more_than_its_limit_in_flight() -> None:
    throttle = Throttle(3, FakeClock())
    peak = 0

    async def request(fail: bool) -> None:
        nonlocal peak
        await throttle.acquire()
        peak = max(peak, throttle.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        if fail:
            throttle.hear(429, {})
        throttle.release()
        throttle.learn(None)

    await asyncio.gather(*(request(n % 5 == 0) for n in range(40)))
    assert peak <= 3
    assert throttle.in_flight == 0


async def test_throttle_holds_every_request_until_retry_after_has_passed() -> None:
    clock = FakeClock()
    throttle = Throttle(4, clock)
    await throttle.acquire()
    throttle.hear(429, {"Retry-After": "2"})
    throttle.release()
    await asyncio.gather(throttle.acquire(), throttle.acquire())
    # Both waited the hold, exactly; then they left paced, not together: one request
    # per slot per second (4 slots) until the server's pace is measured.
    assert clock.sleeps == [2.0, 2.0, 0.25]
    assert clock.now() == 2.25
    assert throttle.waits == 2


async def test_a_long_retry_after_on_another_page_does_not_outlast_max_time() -> None:
    # Four pages, all on the wire at once: no page waits its turn behind the pace the
    # walk takes after the 503. With more pages, those paced departures advanced the fake
    # clock at no real cost while the 429 was still on its way (on a busy machine, past
    # the pages' max_time: a TransportError, not the 429's RateLimitError).
    big = Simulator(40, seed=11, max_page_size=10)
    clock = FakeClock()
    big.latency = 0.02
    big.inject(Fault.status(503), page=2)
    big.inject(Fault.rate_limit("3600"), page=4)
    policy = il.RetryPolicy(max_tries=5, max_time=1.0, base_delay=0.001, max_delay=0.01)
    async with (
        big.serve() as url,
        il.Client(big.credentials, base_url=url, retry=policy, clock=clock) as c,
    ):
        with pytest.raises(il.RateLimitError) as caught:
            async for _ in c.iter_links(per_page=10, concurrency=4):
                pass
    assert caught.value.retry_after is not None
    assert 3599 < caught.value.retry_after <= 3600
    assert all(wait < 1.0 for wait in clock.sleeps)  # nobody waited out the hour
    assert clock.now() < 1.0


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
    big.pause()
    walk = asyncio.create_task(pages_of(big_client.iter_pages(per_page=10, concurrency=4)))
    # Pages 2-4 leave before page 1 is answered: no round trip spent learning totalPages.
    await big.wait_for_requests(4)
    assert sorted(seen.page or 0 for seen in big.requests) == [1, 2, 3, 4]
    big.resume()
    assert len(await walk) == 30
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
        # The fan-out's requests were all sent at the start: each is seen before counting.
        await small.wait_for_requests(2 if concurrency == 1 else 4)
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
    throttle = Throttle(1, FakeClock())
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
    throttle = Throttle(1, FakeClock())
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
    throttle = Throttle(1, FakeClock())
    await throttle.acquire()
    gone = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    throttle.release()
    await asyncio.wait_for(throttle.acquire(), timeout=1)
    assert throttle.in_flight == 1


async def test_the_request_a_freed_slot_lets_go_starts_before_the_page_is_decoded(
    big: Simulator,
) -> None:
    clock = FakeClock()
    events: list[tuple[str, int, float]] = []

    class Decoded(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if found := re.search(r" page=(\d+) attempt=", record.getMessage()):
                events.append(("decoded", int(found[1]), clock.now()))

    handler = Decoded(logging.DEBUG)
    logger = logging.getLogger("ipay_links")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    big.latency = 0.01
    try:
        async with (
            big.serve() as url,
            aiohttp.ClientSession(trace_configs=[trace_requests(clock, events)]) as session,
            il.Client(big.credentials, base_url=url, session=session) as client,
        ):
            walk = client.iter_pages(per_page=10, concurrency=2)
            assert len([page async for page in walk]) == 30
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    order = [(what, page) for what, page, _ in events]
    # When page q's answer frees its slot, page q + 2 (waiting for it) starts before
    # page q is decoded: decoding never holds a request back.
    for q in range(3, 29):  # pages 3 and 4 are asked for once page 1 tells the total
        assert order.index(("start", q + 2)) < order.index(("decoded", q)), q


async def test_max_items_bounds_the_first_fan_out(big: Simulator, big_client: il.Client) -> None:
    big.latency = 0.01
    walk = big_client.iter_links(per_page=10, concurrency=8, max_items=15)
    assert [link.link_id async for link in walk] == ids(big)[:15]
    assert sorted(seen.page or 0 for seen in big.requests) == [1, 2]


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


class FailingAfterPageOne:
    """An in-memory transport: page 1 from the simulator, every other page refused (IAC)."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def send(self, request: Any, *, time_left: float, on_head: Any = None) -> Any:
        await asyncio.sleep(0)
        if json.loads(request.body)["pagination"]["pageNumber"] != "1":
            return 200, {}, json.dumps(self.simulator.envelope("IAC", "refused")).encode()
        status, envelope = self.simulator.answer(request.method, request.headers, request.body)
        return status, {}, json.dumps(envelope).encode()

    async def aclose(self) -> None:
        pass


async def drop_walks(client: il.Client, count: int) -> None:
    """Start ``count`` walks, let their prefetched pages fail, and drop them unawaited."""
    for number in range(count):
        walk: AsyncIterator[object]
        if number % 2:
            walk = client.iter_links(per_page=10, concurrency=4)
        else:
            walk = client.iter_pages(per_page=10, concurrency=4)
        async for _ in walk:
            for _ in range(10):  # the prefetched pages fail meanwhile
                await asyncio.sleep(0)
            break  # and the walk is dropped, its failures never awaited
        del walk
        if number % 50 == 0:
            gc.collect()  # walks in reference cycles go now, in the collector's order


@pytest.mark.parametrize(("over", "count"), [("memory", 600), ("socket", 50)])
async def test_dropped_walks_with_failed_prefetches_leave_no_task_behind(
    big: Simulator, over: str, count: int
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
    loop.set_debug(True)
    try:
        if over == "memory":
            transport = FailingAfterPageOne(big)
            async with il.Client(big.credentials, transport=transport) as client:
                await drop_walks(client, count)
        else:
            big.inject_every(Fault.envelope("IAC", "refused"), 2)
            async with big.serve() as url, il.Client(big.credentials, base_url=url) as client:
                await drop_walks(client, count)
        for _ in range(10):
            await asyncio.sleep(0)
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_debug(False)
        loop.set_exception_handler(None)
    assert reported == []  # no "Task exception was never retrieved", no "destroyed but pending"
    assert client_tasks() == []


async def test_a_page_walk_left_with_break_stops_its_prefetching(big: Simulator) -> None:
    for page in range(2, 9):
        big.inject(Fault.hang(30.0), page=page)  # prefetches that never end by themselves
    async with big.serve() as url, il.Client(big.credentials, base_url=url) as client:
        async for _ in client.iter_pages(per_page=10, concurrency=8):
            await big.wait_for_requests(8)
            prefetching = client_tasks()
            break  # the walk is dropped: nothing else holds it
        done, pending = await asyncio.wait(prefetching, timeout=10)
        assert pending == set()
        assert all(task.cancelled() for task in done)
        assert client_tasks() == []
