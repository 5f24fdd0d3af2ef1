"""The one clock of a client: every wait (retries, Retry-After, a walk's hold) goes through it.

Tests replace it (``ipay_links.testing.FakeClock``) so that a 2-second Retry-After
takes no wall time and its wait can be asserted exactly.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["Clock", "LoopClock"]


class Clock(Protocol):
    """What a client needs of time: a monotonic reading and a way to wait."""

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

    def __repr__(self) -> str:
        return "LoopClock()"
