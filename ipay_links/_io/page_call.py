"""One page call: its request, its retries, its turn at the walk's gate, and its log lines.

A page call goes: the transport (``aiohttp_transport.py``) -> ``protocol.read_response``
-> a :class:`Page` or a typed error, retried by :class:`RetryState`. The client builds
one :class:`PageCall` per page asked for and runs it.
"""

from __future__ import annotations

import functools
import logging
import time

import attrs

from .._core import protocol
from .._core.protocol import Request
from ..errors import ApiError, IpayError, TransportError, hiding, shown
from ..models import Page
from .clock import Clock, wall_time
from .retry import RetryState
from .throttle import Departure, Throttle
from .transport import OnHead, Response, Transport

__all__ = ["PageCall"]

logger = logging.getLogger("ipay_links")


@attrs.define(kw_only=True)
class PageCall:
    """The call of one page, retried; :meth:`run` it once.

    - ``request``, ``page``: what is sent, and the page number it asks for.
    - ``gate``: the walk's throttle, whose slot each attempt takes; ``None`` outside a walk.
    - ``retry``: the retries' state (tries counted, time left), on the client's clock.
    - ``transport``: what sends the request.
    - ``clock``: the client's clock; an HTTP-date ``Retry-After`` is counted from its
      wall time (:func:`wall_time`).
    - ``secrets``: shown as ``***`` in every error built during an attempt; kept out
      of the repr (a traceback's locals show it).
    - ``http_status``, ``statuscode``, ``ipay_uuid``: what the last attempt saw, for its
      log line (``statuscode`` is ``"?"`` until known, an error's class name when the
      answer was no InstantPay one).
    """

    request: Request
    page: int
    gate: Throttle | None
    retry: RetryState
    transport: Transport
    clock: Clock
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)
    http_status: int | None = None
    statuscode: str = "?"
    ipay_uuid: str | None = None

    async def run(self) -> Page:
        """Attempt until a page comes back or the retries give up; raise the last error."""
        return await self.retry.run(self.attempt, self._on_retry)

    def _on_retry(self, error: IpayError, wait: float) -> None:
        if self.gate is not None:
            self.gate.note_retry()
        logger.warning(
            "retrying page %d in %.2f s after attempt %d failed: %s",
            self.page,
            wait,
            self.retry.attempts,
            error,
        )

    async def attempt(self) -> Page:
        """One attempt, logged at DEBUG whatever its outcome."""
        started = time.perf_counter()
        number = self.retry.attempts
        self.http_status, self.statuscode, self.ipay_uuid = None, "?", None
        try:
            # Whatever the server sent back (a status message echoing our headers, say)
            # shows the secret as *** in every error built meanwhile.
            with hiding(*self.secrets):
                result = await self.exchange()
                uuid = None if result.ipay_uuid is None else shown(result.ipay_uuid, 100)
            self.statuscode, self.ipay_uuid = "TXN", uuid
            return result
        except ApiError as error:
            self.statuscode, self.ipay_uuid = error.statuscode or "-", error.ipay_uuid
            raise
        except IpayError as error:
            self.statuscode = type(error).__name__
            raise
        finally:
            logger.debug(
                "%s %s page=%d attempt=%d http_status=%s statuscode=%s ipay_uuid=%s "
                "elapsed_ms=%.1f",
                self.request.method,
                self.request.path,
                self.page,
                number,
                self.http_status,
                self.statuscode,
                self.ipay_uuid,
                (time.perf_counter() - started) * 1000,
            )

    async def exchange(self) -> Page:
        """Send and decode; in a walk, with a slot of the gate while on the wire only.

        The gate is told, in this order: ``acquire`` (a wait for a slot or a hold is part
        of the page's ``max_time``), ``hear`` (the status line, as it arrives),
        ``release`` (decoding frees the slot for the next request), ``turn_to_decode``,
        ``learn`` (how the attempt ended). A push-back the gate excuses (the walk had
        already slowed down for it) does not count against ``max_tries``.
        """
        gate = self.gate
        if gate is None:
            return self._decode(await self._send(None))
        error: BaseException | None = None
        departure: Departure | None = None
        try:
            departure = await gate.acquire(self.retry.remaining())
            try:
                answer = await self._send(functools.partial(gate.hear, departure=departure))
            finally:
                gate.release()
            async with gate.turn_to_decode():
                return self._decode(answer)
        except BaseException as exc:
            error = exc
            raise
        finally:
            gate.learn(error, departure)
            if departure is not None and departure.excused:
                self.retry.excuse()

    async def _send(self, on_head: OnHead | None) -> Response:
        """The answer to the request, within what is left of the page's ``max_time``."""
        time_left = self.retry.remaining()
        if time_left <= 0:
            raise TransportError(
                f"page {self.page} waited out its max_time for the walk's turn: nothing sent",
                retryable=False,
            )
        answer = await self.transport.send(self.request, time_left=time_left, on_head=on_head)
        self.http_status = answer[0]
        return answer

    def _decode(self, answer: Response) -> Page:
        http_status, headers, body = answer
        return protocol.read_response(
            http_status, headers, body, page=self.page, now=wall_time(self.clock)
        )
