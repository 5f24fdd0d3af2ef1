"""One throttle for a walk: at most N requests in flight, fewer while the server pushes back."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from ._clock import Clock
from .errors import RateLimitError, ServiceUnavailableError
from .protocol import PUSH_BACK_HTTP, retry_after_of

__all__ = ["Throttle"]


class Throttle:
    """Slots for the requests of one walk, shared by all its pages and their retries.

    - Never more than ``limit`` requests in flight; ``limit`` starts at ``maximum``.
    - Push-back (429, or a 5xx / transient statuscode) halves ``limit`` (at least 1);
      each success adds one back, up to ``maximum``: additive increase, multiplicative
      decrease.
    - A ``Retry-After`` on any page holds back every new request until it has passed.
    - A 429 or 503 is learned from the status line (:meth:`hear`), before the
      answer's body is read or decoded: no request leaves after it, not even one
      freed by an answer that arrived with it. Other push-back (a transient
      statuscode in a 200) is learned once decoded (:meth:`learn`).
    - Every hold is waited on ``clock``.
    - Slots go to waiters first come, first served: a freed slot is handed to the
      longest waiter, so only the request that gets it wakes up.
    - Answers are decoded one per pass of the event loop, after the requests ready to
      leave (:meth:`turn_to_decode`): sending comes before decoding.
    """

    def __init__(self, maximum: int, clock: Clock) -> None:
        self.maximum = maximum
        self._clock = clock
        self.limit = maximum
        self.in_flight = 0
        self.resume_at = 0.0
        self.retries = 0
        self.waits = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._decoding = asyncio.Lock()

    async def acquire(self, time_left: float | None = None) -> None:
        """Wait for a free slot and for any Retry-After hold to pass, then take the slot.

        A hold that lasts longer than ``time_left`` (the page's own budget) raises
        :class:`RateLimitError` at once, as the page's own 429 would.
        """
        counted = False
        while True:
            delay = self.resume_at - self._clock.now()
            if delay > 0:
                if time_left is not None and delay >= time_left:
                    raise RateLimitError(
                        f"the walk is held back {delay:.1f} s by a Retry-After, longer than "
                        "this page's max_time allows",
                        retry_after=delay,
                    )
                if not counted:
                    self.waits, counted = self.waits + 1, True
                await self._clock.sleep(delay)
                continue
            if self.in_flight < self.limit and not self._waiters:
                self.in_flight += 1
                return
            await self._wait_for_hand_off()
            if self.resume_at <= self._clock.now():
                return
            # A hold began while this request waited: give the slot back and wait it out.
            self.release()

    async def _wait_for_hand_off(self) -> None:
        """Queue up until :meth:`_wake` hands over a slot (already counted in flight)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot as this request was cancelled: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give the slot back: the answer has arrived (or the request failed)."""
        self.in_flight -= 1
        self._wake()

    def hear(self, http_status: int, headers: Mapping[str, str]) -> None:
        """Read an answer's status line as it arrives: a 429 or 503 pushes back at once."""
        if http_status in PUSH_BACK_HTTP:
            self.push_back(retry_after_of(http_status, headers))

    def push_back(self, retry_after: float | None) -> None:
        """The server pushed back: halve the limit, and hold every request ``retry_after`` s."""
        self.limit = max(1, self.limit // 2)
        if retry_after is not None:
            self.resume_at = max(self.resume_at, self._clock.now() + retry_after)

    def learn(self, error: BaseException | None) -> None:
        """Adjust to how a request ended: success grows the limit, push-back halves it.

        A 429 or 503 was learned from its status line already (:meth:`hear`).
        """
        if error is None:
            self.limit = min(self.maximum, self.limit + 1)
        elif (
            isinstance(error, RateLimitError | ServiceUnavailableError)
            and error.http_status not in PUSH_BACK_HTTP
        ):
            self.push_back(error.retry_after)
        self._wake()

    @asynccontextmanager
    async def turn_to_decode(self) -> AsyncIterator[None]:
        """Wait until the requests ready to leave have left, then decode alone.

        On Python < 3.12 aiohttp writes a request's body from a task of its own, which
        would otherwise run only after every answer that arrived with this one has been
        decoded: two passes of the loop let the request handed this slot start and
        write. The lock, released on the next pass, lets one page be decoded per pass,
        so requests freed meanwhile leave between two decodes.
        """
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await self._decoding.acquire()
        try:
            yield
        finally:
            asyncio.get_running_loop().call_soon(self._decoding.release)

    def note_retry(self) -> None:
        """Count a retry of one of the walk's pages."""
        self.retries += 1

    def _wake(self) -> None:
        """Hand each free slot to the longest waiter."""
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter has not yet left the queue
                self.in_flight += 1
                waiter.set_result(None)
