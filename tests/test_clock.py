"""The clocks' wall time: what an HTTP-date Retry-After is counted from."""

from __future__ import annotations

import time

from ipay_links import LoopClock
from ipay_links._io.clock import wall_time
from ipay_links.testing import FakeClock


async def test_a_fake_clocks_wall_time_moves_on_with_its_sleeps() -> None:
    clock = FakeClock(100.0, wall=1_800_000_000.0)
    assert clock.wall() == 1_800_000_000.0
    await clock.sleep(2.5)
    clock.advance(0.5)
    assert clock.now() == 103.0
    assert clock.wall() == 1_800_000_003.0
    assert wall_time(clock) == 1_800_000_003.0


def test_a_fake_clock_starts_at_the_real_wall_time_unless_told() -> None:
    before = time.time()
    wall = FakeClock(7.0).wall()
    assert before <= wall <= time.time()


async def test_the_loop_clocks_wall_time_is_the_real_one() -> None:
    before = time.time()
    assert before <= wall_time(LoopClock()) <= time.time()


class MonotonicOnly:
    """A clock written before clocks had a wall time: now() and sleep() only."""

    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        pass


def test_a_clock_without_wall_time_falls_back_to_the_real_one() -> None:
    before = time.time()
    assert before <= wall_time(MonotonicOnly()) <= time.time()
