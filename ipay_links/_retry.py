"""RetryPolicy and the per-call state that drives backoff's retry loop."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from typing import Any

import attrs

from .errors import IpayError

__all__ = ["RetryPolicy", "RetryState"]


def _at_least(minimum: float) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{attribute.name} must be a number, not {type(value).__name__}")
        if not value >= minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

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

    max_tries: int = attrs.field(default=5, validator=_at_least(1))
    max_time: float = attrs.field(default=120.0, validator=_at_least(0.001))
    base_delay: float = attrs.field(default=0.5, validator=_at_least(0))
    max_delay: float = attrs.field(default=8.0, validator=_at_least(0))

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_tries, float):
            raise TypeError("max_tries must be an int")

    def backoff_delay(self, retry: int) -> float:
        """The jittered wait before retry number ``retry`` (0 for the first retry)."""
        cap = min(self.base_delay * 2.0 ** min(retry, 64), self.max_delay)
        return random.uniform(cap / 2, cap)  # noqa: S311  # jitter, not cryptography


class RetryState:
    """The retries of one page call: what backoff asks before each wait.

    ``give_up`` decides and computes the next wait; ``waits`` hands it to backoff
    (which calls it with ``jitter=None`` and no ``max_time``, so it never shortens it).
    """

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._started = clock()
        self._wait = 0.0
        self.attempts = 0

    def remaining(self) -> float:
        """Seconds left of ``max_time`` for this page."""
        return self.policy.max_time - (self._clock() - self._started)

    def give_up(self, error: Exception) -> bool:
        """True when ``error`` is final or waiting for another try would overrun ``max_time``."""
        if not isinstance(error, IpayError) or not error.retryable:
            return True
        retry_after: float | None = getattr(error, "retry_after", None)
        if retry_after is not None:
            wait = retry_after
        else:
            wait = self.policy.backoff_delay(self.attempts - 1)
        if wait >= self.remaining():
            return True
        self._wait = wait
        return False

    def waits(self) -> Generator[float, object, None]:
        """backoff's wait generator: primed once, then yields the wait ``give_up`` chose."""
        yield self._wait
        while True:
            yield self._wait
