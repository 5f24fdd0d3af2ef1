"""A clock for tests: waits take no wall time, and each one is recorded."""

from __future__ import annotations

import asyncio
import time

__all__ = ["FakeClock"]


class FakeClock:
    """A :class:`ipay_links.Clock` whose sleeps return at once and move its time on.

    Give it to a client (``Client(..., clock=FakeClock())``): retry waits and
    Retry-After holds then cost no wall time, and :attr:`sleeps` lists every wait
    asked for, in order, for a test to assert exactly. Each sleep yields to the event
    loop once, so other tasks run, and ends at the time it was asked at plus its
    length: sleeps that overlap end together.

    Unlike a real clock, time moves on for every task when any sleep ends: a task
    that has not slept sees the time the longest wait before it ended at. A test
    whose outcome depends on how several tasks' waits interleave should assert on
    :attr:`sleeps`, not on :meth:`now`.

    ``start=0.0`` is the time :meth:`now` reads before any wait; ``overshoot=0.0``
    (seconds) is added to every sleep, as a busy machine wakes late; ``wall=None`` is the
    wall time (Unix seconds) :meth:`wall` reads before any wait, the real one when the
    clock is made if ``None``: give it to assert the wait of an HTTP-date
    ``Retry-After`` exactly. None of them is checked.
    """

    def __init__(
        self, start: float = 0.0, *, overshoot: float = 0.0, wall: float | None = None
    ) -> None:
        self._now = start
        self._start = start
        self._wall = time.time() if wall is None else wall
        self.overshoot = overshoot
        self.sleeps: list[float] = []

    def now(self) -> float:
        """The fake time: ``start`` plus every wait so far (overlapping ones once)."""
        return self._now

    def wall(self) -> float:
        """The fake wall time: ``wall`` plus as much as :meth:`now` has moved on."""
        return self._wall + (self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        """Record the wait, let other tasks run once, and move the time on by it."""
        self.sleeps.append(seconds)
        until = self._now + seconds + self.overshoot
        await asyncio.sleep(0)
        self._now = max(self._now, until)

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds`` without sleeping."""
        self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now}, sleeps={len(self.sleeps)})"
