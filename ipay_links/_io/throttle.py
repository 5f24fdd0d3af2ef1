"""One throttle for a walk: at most N requests in flight, fewer and further apart while the
server pushes back."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import attrs

from .._core.protocol import PUSH_BACK_HTTP, retry_after_of
from ..errors import RateLimitError, ServiceUnavailableError
from .clock import Clock, wall_time

__all__ = ["Departure", "Throttle"]

# The pace, once the server has pushed back: the first spacing between two requests is
# the one the requests let through in the last WINDOW seconds had (at most 1 / WINDOW);
# each push-back for a request sent at the current pace doubles it.
WINDOW = 1.0
# Each success shortens the spacing: quickly while it is longer than the one measured at
# the last push-back (the rate known to pass), slowly beyond it (probing for more); under
# a millisecond, requests are not paced at all.
RECOVER = 0.95
PROBE = 0.999
UNPACED_BELOW = 0.001
MAX_SPACING = 10.0
SLOWER = 1.5
MEASURED_AT_LEAST = 4
MARGIN = 1.1


@attrs.define
class Departure:
    """One request let go by the throttle: when it left, and what its answer taught."""

    at: float
    pushed_back: bool = False
    excused: bool = False


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
    - Pacing: after a push-back, requests leave no closer together than ``spacing``
      seconds, so held requests go again one after another, not at the same instant.
      The first spacing is measured (the requests let through in the last second); a
      push-back of a request that left at the current pace doubles it; successes shorten
      it, quickly back to the rate measured at the last push-back, slowly beyond.
    - One push-back per slow-down: a push-back of a request that left before the last
      slow-down says nothing new (the walk has already slowed down for it). It changes
      nothing, and its page is *excused* (:attr:`Departure.excused`): waiting out the
      server's limit does not spend the page's tries.
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
        self.spacing = 0.0
        self._known_spacing = 0.0
        self._next_departure = -math.inf
        self._slowed_at = -math.inf
        self._hold_ended_at = -math.inf
        self._let_through: deque[float] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._decoding = asyncio.Lock()

    async def acquire(self, time_left: float | None = None) -> Departure:
        """Wait for a free slot, any Retry-After hold and the pace, then take the slot.

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
            else:
                await self._wait_for_hand_off()
            try:
                await self._keep_pace()
            except BaseException:
                self.release()
                raise
            if self.resume_at <= self._clock.now():
                return Departure(self._clock.now())
            # A hold began while this request waited: give the slot back and wait it out.
            self.release()

    async def _keep_pace(self) -> None:
        """Wait until ``spacing`` has passed since the last request left, then leave.

        No turn is booked ahead: a slow-down while this request waits moves its turn.
        """
        while self.spacing > 0:
            now = self._clock.now()
            if self._next_departure <= now:
                self._next_departure = now + self.spacing
                return
            await self._clock.sleep(self._next_departure - now)

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

    def hear(
        self, http_status: int, headers: Mapping[str, str], departure: Departure | None = None
    ) -> None:
        """Read an answer's status line as it arrives: a 429 or 503 pushes back at once."""
        if http_status in PUSH_BACK_HTTP:
            retry_after = retry_after_of(http_status, headers, wall_time(self._clock))
            self.push_back(retry_after, departure)

    def push_back(self, retry_after: float | None, departure: Departure | None = None) -> None:
        """The server pushed back the request of ``departure``: slow down, and hold ``retry_after``.

        Slowing down (halving the limit, doubling the spacing) happens once for all the
        requests that left before it: a push-back for one of those only marks it excused.
        """
        now = self._clock.now()
        if departure is not None:
            departure.pushed_back = True
        # A request that left at the instant of the slow-down may have left before it.
        if departure is None or departure.at > self._slowed_at:
            self._slow_down(now)
        elif departure is not None:
            departure.excused = True
        if retry_after is not None:
            self.resume_at = max(self.resume_at, now + retry_after)
            self._hold_ended_at = self.resume_at

    def _slow_down(self, now: float) -> None:
        """Halve the limit and lengthen the spacing, after what was let through lately.

        The spacing becomes at least ``SLOWER`` times what it was, and at least the one
        the server let through lately (:meth:`_measured_spacing`): that pace is known to
        pass, and successes shorten the spacing quickly back to it, slowly beyond.
        Unpaced until now, the walk starts at 1.5 times the pace measured or, with too few
        requests to measure, at one request per slot per ``WINDOW`` (at least four).
        """
        self._slowed_at = now
        self.limit = max(1, self.limit // 2)
        measured = self._measured_spacing(now)
        if self.spacing == 0:
            unmeasured = WINDOW / max(self.maximum, MEASURED_AT_LEAST)
            self.spacing = unmeasured if measured is None else SLOWER * measured
        else:
            self.spacing = max(SLOWER * self.spacing, MARGIN * (measured or 0.0))
        self._known_spacing = MARGIN * (measured or 0.0)
        self.spacing = min(self.spacing, MAX_SPACING)
        self._next_departure = max(self._next_departure, now + self.spacing)

    def _measured_spacing(self, now: float) -> float | None:
        """The mean spacing of the requests let through in the last ``WINDOW`` of sending.

        A hold is no sending: the window starts after the last one ended. ``None`` with
        fewer than ``MEASURED_AT_LEAST`` requests in it.
        """
        start = max(now - WINDOW, self._hold_ended_at)
        while self._let_through and self._let_through[0] < start:
            self._let_through.popleft()
        if len(self._let_through) < MEASURED_AT_LEAST or now <= self._let_through[0]:
            return None
        return (now - self._let_through[0]) / (len(self._let_through) - 1)

    def learn(self, error: BaseException | None, departure: Departure | None = None) -> None:
        """Adjust to how a request ended: success grows the limit, push-back halves it.

        A 429 or 503 was learned from its status line already (:meth:`hear`).
        """
        if error is None:
            self.limit = min(self.maximum, self.limit + 1)
            if departure is not None:
                self._let_through.append(departure.at)
                if len(self._let_through) > 1000:
                    self._let_through.popleft()
            if self.spacing > 0:
                fast = self.spacing > self._known_spacing
                self.spacing *= RECOVER if fast else PROBE
                if self.spacing < UNPACED_BELOW:
                    self.spacing = 0.0
        elif (
            isinstance(error, RateLimitError | ServiceUnavailableError)
            and error.http_status not in PUSH_BACK_HTTP
            and not (departure is not None and departure.pushed_back)
        ):
            self.push_back(error.retry_after, departure)
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
