"""RetryPolicy, and the retry loop of one page call: backoff's, waiting on the client's clock."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs
import backoff

from .._core.checks import check_finite, check_number
from ..errors import IpayError
from .clock import Clock

__all__ = ["RetryPolicy", "RetryState"]

T = TypeVar("T")


def _at_least(
    minimum: float, *, whole: bool = False, finite: bool = False
) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if finite:
            check_finite(attribute.name, value, minimum)
        else:
            check_number(attribute.name, value, minimum, whole=whole)

    return check


@attrs.frozen
class RetryPolicy:
    """How one page request is retried when it fails in a way that may pass.

    - ``max_tries``: requests sent for one page at most, the first included.
    - ``max_time``: seconds one page may take, all attempts and waits included.
      No wait is started that would end past it; each attempt's timeout is cut to it.
    - The n-th wait (n from 0) is drawn between half and all of
      ``min(base_delay * 2**n, max_delay)``: jitter that never drops near zero.
    - A server's ``Retry-After`` is waited exactly, never shortened; when it asks
      for more than the time left, the call gives up at once.
    """

    max_tries: int = attrs.field(default=5, validator=_at_least(1, whole=True))
    max_time: float = attrs.field(default=120.0, validator=_at_least(0.001))
    base_delay: float = attrs.field(default=0.5, validator=_at_least(0, finite=True))
    max_delay: float = attrs.field(default=8.0, validator=_at_least(0, finite=True))

    def backoff_delay(self, retry: int) -> float:
        """The jittered wait before retry number ``retry`` (0 for the first retry)."""
        cap = min(self.base_delay * 2.0 ** min(retry, 64), self.max_delay)
        return random.uniform(cap / 2, cap)  # noqa: S311  # jitter, not cryptography


class RetryState:
    """The retries of one page call, run by backoff; every wait goes through ``clock``.

    backoff counts the tries and asks :meth:`give_up` after each failure, which
    decides and computes the next wait. The wait itself is slept on the client's
    clock by :meth:`run`'s ``on_backoff`` handler (backoff's own sleep, fixed to
    ``asyncio.sleep``, is given zero), so a test's fake clock replaces every wait.
    """

    def __init__(self, policy: RetryPolicy, clock: Clock) -> None:
        self.policy = policy
        self._clock = clock
        self._started = clock.now()
        self._wait = 0.0
        self._excused = False
        self.attempts = 0
        self.counted = 0

    def excuse(self) -> None:
        """Do not count the attempt that just failed against ``max_tries``.

        A walk excuses a push-back (429, 503) of a request sent before it slowed down:
        waiting out the server's limit is not a failure of the page.
        """
        self._excused = True

    def remaining(self) -> float:
        """Seconds left of ``max_time`` for this page."""
        return self.policy.max_time - (self._clock.now() - self._started)

    def too_late(self, wait: float = 0.0) -> bool:
        """True when an attempt after ``wait`` more seconds would have no time worth the name.

        That is less than a tenth of ``max_time`` (at most 0.1 s): enough to fail on its
        own timeout, never to be answered.
        """
        return wait >= self.remaining() - min(0.1, self.policy.max_time / 10)

    def give_up(self, error: Exception) -> bool:
        """True when ``error`` is final or waiting for another try would overrun ``max_time``."""
        if not isinstance(error, IpayError) or not error.retryable:
            return True
        if not self._excused:
            self.counted += 1
        self._excused = False
        if self.counted >= self.policy.max_tries:
            return True
        retry_after: float | None = getattr(error, "retry_after", None)
        if retry_after is not None:
            wait = retry_after
        else:
            wait = self.policy.backoff_delay(max(self.counted - 1, 0))
        if self.too_late(wait):
            return True
        self._wait = wait
        return False

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        on_retry: Callable[[IpayError, float], None],
    ) -> T:
        """Call ``attempt`` until it succeeds or :meth:`give_up` says stop; raise the last error.

        ``on_retry(error, wait)`` is called before each wait. No attempt starts once
        ``max_time`` has run out (a wait that ended late, on a busy machine): the
        failure that led to the wait is raised instead.
        """

        async def wait(details: Any) -> None:
            error: IpayError = details["exception"]
            on_retry(error, self._wait)
            await self._clock.sleep(self._wait)
            if self.too_late():
                error.attempts = self.attempts
                raise error

        def gave_up(details: Any) -> None:
            details["exception"].attempts = self.attempts

        async def counted() -> T:
            self.attempts += 1
            return await attempt()

        retrying = backoff.on_exception(
            backoff.constant,
            IpayError,
            interval=0,
            max_tries=None,  # give_up counts: an excused attempt is not a try
            max_time=None,
            jitter=None,
            giveup=self.give_up,
            on_backoff=wait,
            on_giveup=gave_up,
            logger=None,
        )(counted)
        return await retrying()
