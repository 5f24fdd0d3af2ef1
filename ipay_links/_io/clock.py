"""The one clock of a client: every wait (retries, Retry-After, a walk's hold) goes through it.

Tests replace it (``ipay_links.testing.FakeClock``) so that a 2-second Retry-After
takes no wall time and its wait can be asserted exactly. Its wall time (:func:`wall_time`)
is what an HTTP-date Retry-After is counted from.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "LoopClock", "wall_time"]


class Clock(Protocol):
    """What a client needs of time: a monotonic reading and a way to wait.

    A clock may also have ``wall() -> float``: the wall time in Unix seconds, which an
    HTTP-date ``Retry-After`` is counted from (:class:`LoopClock` and
    ``ipay_links.testing.FakeClock`` have it). It is optional, so that a clock written
    before it was asked for still works: without it, ``time.time()`` is read.
    """

    def now(self) -> float:
        """Seconds on a monotonic scale; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; cancellable."""
        ...


class LoopClock:
    """The running event loop's own time and ``asyncio.sleep``: the default."""

    def now(self) -> float:
        """The running loop's ``time()``."""
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``."""
        await asyncio.sleep(seconds)

    def wall(self) -> float:
        """``time.time()``: Unix seconds."""
        return time.time()

    def __repr__(self) -> str:
        return "LoopClock()"


def wall_time(clock: Clock) -> float:
    """``clock``'s wall time in Unix seconds: its ``wall()``, else ``time.time()``."""
    wall = getattr(clock, "wall", None)
    return time.time() if wall is None else float(wall())
