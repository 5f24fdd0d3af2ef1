"""Walks behind a rate limiter, in virtual time: nginx's limit_req decides, to the letter.

The same walks run through a real nginx in test_network.py and benchmarks/ratelimit.py;
here time is virtual (tests/_virtual.py), so a walk of 50 pages at 10 requests a second
takes milliseconds, and when each request left is known exactly.
"""

from __future__ import annotations

import itertools
import random
from email.utils import formatdate

import pytest

import ipay_links as il
from ipay_links._io.throttle import Throttle
from ipay_links.testing import FakeClock, Simulator

from ._virtual import LimitedSimulator, LimitReq, VirtualClock

SETUPS = [(429, None), (503, None), (429, "1"), (503, "1")]
DEFAULT_RETRY = il.RetryPolicy()
IDS = ["429", "503", "429-retry-after", "503-retry-after"]


@pytest.fixture(scope="module")
def links() -> Simulator:
    return Simulator(5000, seed=3)


async def walk_behind(
    simulator: Simulator,
    status: int,
    retry_after: str | None,
    retry: il.RetryPolicy = DEFAULT_RETRY,
) -> tuple[list[str], LimitedSimulator, VirtualClock]:
    """A concurrency-8 walk of every link behind ``limit_req rate=10r/s burst=2 nodelay``."""
    random.seed(7)  # the backoff's jitter: the same walk every time
    clock = VirtualClock()
    limited = LimitedSimulator(
        simulator, LimitReq(10, 2), clock, status=status, retry_after=retry_after
    )
    async with il.Client(simulator.credentials, transport=limited, clock=clock, retry=retry) as c:

        async def every_link() -> list[str]:
            return [link.link_id async for link in c.iter_links(per_page=100, concurrency=8)]

        got = await clock.run(every_link())
    return got, limited, clock


@pytest.mark.parametrize(("status", "retry_after"), SETUPS, ids=IDS)
async def test_a_walk_behind_limit_req_gets_every_link_near_the_allowed_rate(
    links: Simulator, status: int, retry_after: str | None
) -> None:
    got, limited, clock = await walk_behind(links, status, retry_after)
    assert got == [record["linkId"] for record in links.links]
    assert limited.admitted == 50  # each page let through once
    # 50 pages at 10 a second: 5 s at best. Before pacing, these walks failed (Retry-After)
    # or took 10 to 12 s, refused 75 to 80 times.
    assert 50 / (10 * clock.now()) >= 0.6
    assert limited.refused <= 12


@pytest.mark.parametrize("retry_after", [None, "1"], ids=["bare", "retry-after"])
async def test_held_requests_leave_one_after_another(
    links: Simulator, retry_after: str | None
) -> None:
    _, limited, _ = await walk_behind(links, 429, retry_after)
    first_refusal = limited.departures.index(None)
    after = [at for at in limited.departures[first_refusal:] if at is not None]
    gaps = [later - earlier for earlier, later in itertools.pairwise(after)]
    # Not N requests at the same instant once the server pushed back: a spacing between
    # every two, the shortest still most of the 0.1 s the limit allows.
    assert min(gaps) >= 0.05


async def test_waiting_out_the_limit_does_not_spend_the_pages_tries(links: Simulator) -> None:
    # Two tries a page: a page refused because it left before the walk slowed down is
    # excused; only a request sent at the walk's current pace and refused costs a try.
    got, limited, _ = await walk_behind(links, 429, "1", il.RetryPolicy(max_tries=2))
    assert len(got) == 5000
    assert limited.refused > 2  # more refusals than the two tries of any one page


async def test_a_walks_hold_for_an_http_date_is_counted_from_the_clocks_wall_time() -> None:
    clock = FakeClock(5.0, wall=1_800_000_000.0)
    throttle = Throttle(4, clock)
    departure = await throttle.acquire()
    throttle.release()
    throttle.hear(429, {"Retry-After": formatdate(1_800_000_007, usegmt=True)}, departure)
    assert throttle.resume_at == 12.0  # now (5 s) plus the 7 s the date is away
    assert throttle.waits == 0
    await throttle.acquire()
    assert clock.sleeps[0] == 7.0


async def test_one_slow_down_for_all_the_requests_that_left_before_it() -> None:
    clock = FakeClock()
    throttle = Throttle(8, clock)
    early = [await throttle.acquire() for _ in range(4)]
    for _ in early:
        throttle.release()
    throttle.hear(429, {}, early[0])  # the first refusal: the walk slows down
    assert throttle.limit == 4 and throttle.spacing > 0
    spacing = throttle.spacing
    for departure in early[1:]:  # left before it: nothing new, and excused
        throttle.hear(429, {}, departure)
        assert departure.excused
    assert throttle.limit == 4 and throttle.spacing == spacing
    assert not early[0].excused
    clock.advance(1.0)
    late = await throttle.acquire()
    throttle.release()
    throttle.hear(429, {}, late)  # sent at the new pace and refused: slower again
    assert throttle.limit == 2 and throttle.spacing == pytest.approx(1.5 * spacing)
    assert not late.excused
