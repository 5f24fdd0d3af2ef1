"""Virtual time for walks, and a rate limiter that decides as nginx's ``limit_req`` does.

:class:`VirtualClock` is a discrete-event clock: a sleep ends when every task that can run
has run and no earlier sleep is pending, so concurrent waits overlap as they do in real
time, and a walk of minutes runs in milliseconds, the same way every time.
"""

from __future__ import annotations

import asyncio
import heapq
import json
from collections.abc import Awaitable
from typing import TypeVar

from ipay_links._core.protocol import Request
from ipay_links._io.transport import OnHead, Response
from ipay_links.testing import Simulator

T = TypeVar("T")

# Passes of the event loop that let every runnable task run before time moves on.
_SETTLE = 20


class VirtualClock:
    """A :class:`ipay_links.Clock` whose time moves only when every task is waiting on it."""

    def __init__(self) -> None:
        self._now = 0.0
        self._wakes: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._wakes, (self._now + seconds, self._count, wake))
        await wake

    async def run(self, work: Awaitable[T]) -> T:
        """Run ``work`` to its end, moving the time to each next wake when all are waiting."""
        task = asyncio.ensure_future(work)
        while not task.done():
            for _ in range(_SETTLE):
                await asyncio.sleep(0)
            while self._wakes and self._wakes[0][2].done():  # a cancelled sleep
                heapq.heappop(self._wakes)
            if task.done() or not self._wakes:
                continue
            when, _, wake = heapq.heappop(self._wakes)
            self._now = max(self._now, when)
            wake.set_result(None)
        return task.result()


class LimitReq:
    """nginx's ``limit_req zone rate=R burst=B nodelay``: its leaky bucket, to the letter.

    Each request adds one to ``excess`` after what drained at ``rate`` since the last one
    let through; over ``burst`` it is refused with ``status`` (and does not count).
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._excess = 0.0
        self._last: float | None = None

    def admits(self, now: float) -> bool:
        if self._last is None:
            self._last = now
            return True
        excess = max(self._excess - self.rate * (now - self._last), 0.0) + 1.0
        if excess > self.burst:
            return False
        self._excess, self._last = excess, now
        return True


class LimitedSimulator:
    """A transport: the simulator behind a :class:`LimitReq`, ``latency`` virtual seconds away."""

    def __init__(
        self,
        simulator: Simulator,
        limiter: LimitReq,
        clock: VirtualClock,
        *,
        status: int = 429,
        retry_after: str | None = None,
        latency: float = 0.02,
    ) -> None:
        self.simulator = simulator
        self.limiter = limiter
        self.clock = clock
        self.refusal = (status, {} if retry_after is None else {"Retry-After": retry_after})
        self.latency = latency
        self.admitted = 0
        self.refused = 0
        # When each request arrived, in order; None for one that was refused.
        self.departures: list[float | None] = []

    async def send(
        self, request: Request, *, time_left: float, on_head: OnHead | None = None
    ) -> Response:
        admitted = self.limiter.admits(self.clock.now())
        self.departures.append(self.clock.now() if admitted else None)
        await self.clock.sleep(self.latency)
        if not admitted:
            self.refused += 1
            status, headers = self.refusal
            if on_head is not None:
                on_head(status, headers)
            return status, headers, b"<html><body>Too Many Requests</body></html>"
        self.admitted += 1
        status, envelope = self.simulator.answer(request.method, request.headers, request.body)
        if on_head is not None:
            on_head(status, {})
        return status, {}, json.dumps(envelope).encode()

    async def aclose(self) -> None:
        pass
