"""The aiohttp transport: the only module that imports aiohttp.

aiohttp is imported when the first request is sent, not with the package: it takes
most of ``import ipay_links``'s time, and a command that only prints its help, or a
program that only uses the models, should not pay for it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from .errors import ResponseFormatError, TransportError
from .protocol import Request

if TYPE_CHECKING:
    import aiohttp

    from ._transport import OnHead, Response

__all__ = ["AiohttpTransport"]


class AiohttpTransport:
    """Sends requests to ``base_url`` with an ``aiohttp.ClientSession``.

    It creates its own session on first use unless one is given, and closes only
    what it created. Each request is bounded by ``connect_timeout``, ``read_timeout``
    (seconds without a byte) and its ``time_left``; answers over ``max_response_size``
    bytes are refused. ``time_left`` is in the client's clock's seconds: under a clock
    that is not the event loop's (a test's ``FakeClock``), ``real_time=False`` and it
    bounds nothing in wall time.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None,
        connect_timeout: float,
        read_timeout: float,
        max_response_size: int,
        real_time: bool = True,
    ) -> None:
        self._base_url = base_url
        self._real_time = real_time
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncGenerator[None, None] | None = None
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_response_size = max_response_size

    async def aclose(self) -> None:
        """Close the session if this transport created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def send(
        self, request: Request, *, time_left: float, on_head: OnHead | None = None
    ) -> Response:
        """Send ``request``; see :class:`~ipay_links._transport.Transport`.

        aiohttp's exceptions carry the request headers (the secret among them), so
        each one is replaced by a TransportError built from text, raised outside the
        ``except`` block so that no ``__context__`` keeps the original alive.
        """
        import aiohttp

        try:
            session = await self._session_now()
            async with session.request(
                request.method,
                self._base_url + request.path,
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
                timeout=self._timeout(time_left),
                # Whatever the session was made with: every status is ours to map.
                raise_for_status=False,
            ) as response:
                if on_head is not None:
                    on_head(response.status, response.headers)
                body = await self._read_body(response)
                return response.status, response.headers, body
        except TimeoutError:
            error = TransportError("the request timed out")
        except aiohttp.ClientSSLError as exc:
            error = TransportError(f"TLS failure: {exc.__class__.__name__}", retryable=False)
        except aiohttp.ClientPayloadError:
            error = TransportError("the answer was cut short before its end")
        except (aiohttp.ClientError, OSError) as exc:
            error = TransportError(f"{exc.__class__.__name__}: {_describe(exc)}")
        raise error

    async def _session_now(self) -> aiohttp.ClientSession:
        """The session, made in (and kept to) the event loop of the first request."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(
                "this Client was used in another event loop, and its connections belong "
                "to that one: create one Client per event loop (inside the function that "
                "asyncio.run runs, or in an application's startup)"
            )
        if self._session is None:
            import aiohttp

            # InstantPay's API is stateless: no cookie is kept or sent back.
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
            self._closer = self._closed_with_the_loop()
            await anext(self._closer)
        return self._session

    async def _closed_with_the_loop(self) -> AsyncGenerator[None, None]:
        """Close the session when its loop ends, if the client was not closed before.

        An async generator of the loop: ``asyncio.run`` closes every one before it
        closes the loop (``shutdown_asyncgens``), so a client left open when the loop
        ends leaks no session and no connection.
        """
        try:
            yield
        finally:
            await self.aclose()

    def _timeout(self, time_left: float) -> aiohttp.ClientTimeout:
        import aiohttp

        return aiohttp.ClientTimeout(
            # aiohttp reads a total of 0 or less as no limit at all.
            total=None if not self._real_time or math.isinf(time_left) else max(time_left, 0.001),
            sock_connect=self._connect_timeout,
            sock_read=self._read_timeout,
        )

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, decoded; refused once more than ``max_response_size`` bytes came.

        ``Content-Length`` is the size on the wire, before a ``Content-Encoding`` is
        undone: it refuses early, but the decoded bytes are what is counted.
        """
        limit = self._max_response_size
        length = response.content_length
        if length is not None and length > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)


def _too_large(limit: int) -> ResponseFormatError:
    return ResponseFormatError(f"the answer is larger than max_response_size ({limit} bytes)")


def _describe(exc: BaseException) -> str:
    import aiohttp

    # str() of aiohttp's connection errors names the host and the OS error; their
    # repr() and request_info carry the headers, which are never used here. A
    # ClientResponseError's message can quote the server's bytes (an answer aiohttp
    # could not parse), escaped beyond recognition: only its status is kept.
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    return str(exc) or "no detail"
