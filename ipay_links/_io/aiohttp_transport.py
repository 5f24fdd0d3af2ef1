"""The aiohttp transport: the only module that imports aiohttp.

aiohttp is imported when the first request is sent, not with the package: it takes
most of ``import ipay_links``'s time, and a command that only prints its help, or a
program that only uses the models, should not pay for it.
"""

from __future__ import annotations

import asyncio
import base64
import math
import ssl
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from .._core.protocol import Request
from ..errors import ResponseFormatError, TransportError, shown
from .network import Proxy, default_ssl_context

if TYPE_CHECKING:
    import aiohttp

    from .transport import OnHead, Response

__all__ = ["AiohttpTransport"]

_AIOHTTP_DECODED_LIMIT = 2**25


class AiohttpTransport:
    """Sends requests to ``base_url`` with an ``aiohttp.ClientSession``.

    It creates its own session on first use unless one is given, and closes only
    what it created: a pool of ``max_connections``, trusting ``ssl`` (or the system's
    CAs, read as ``trust_env`` says). Requests go through ``proxy`` when one is given.
    A given session keeps its own connector, unless ``ssl`` is given. Each request is
    bounded by ``connect_timeout``, ``read_timeout`` (seconds without a byte) and its
    ``time_left``; answers over ``max_response_size`` bytes, decoded, are refused.
    ``time_left`` is in the client's clock's seconds: under a clock that is not the
    event loop's (a test's ``FakeClock``), ``real_time=False`` and it bounds nothing in
    wall time.
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
        proxy: Proxy | None = None,
        ssl_context: ssl.SSLContext | None = None,
        trust_env: bool = True,
        max_connections: int = 100,
    ) -> None:
        self._base_url = base_url
        self._proxy = proxy
        self._ssl = ssl_context
        self._trust_env = trust_env
        self._max_connections = max_connections
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
        """Send ``request``; see :class:`~ipay_links._io.transport.Transport`.

        aiohttp's exceptions carry the request headers (the secret among them), so
        each one is replaced by a TransportError built from text, raised outside the
        ``except`` block so that no ``__context__`` keeps the original alive.
        """
        import aiohttp

        error: TransportError | ResponseFormatError
        try:
            return await self._exchange(request, time_left, on_head)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = self._error_of(exc)
        raise error

    async def _exchange(
        self, request: Request, time_left: float, on_head: OnHead | None
    ) -> Response:
        """One request and its whole answer, aiohttp's exceptions left as they are."""
        session = await self._session_now()
        proxy = self._proxy
        async with session.request(
            request.method,
            self._base_url + request.path,
            headers=request.headers,
            data=request.body,
            allow_redirects=False,
            timeout=self._timeout(time_left),
            # Whatever the session was made with: every status is ours to map, and
            # every answer is decoded (and so counted against max_response_size).
            raise_for_status=False,
            auto_decompress=True,
            proxy=None if proxy is None else proxy.url,
            proxy_headers=_proxy_headers(proxy),
            # True: the connector's own (a given session's), else ours.
            ssl=True if self._ssl is None else self._ssl,
        ) as response:
            if on_head is not None:
                on_head(response.status, response.headers)
            body = await self._read_body(response)
            return response.status, response.headers, body

    def _error_of(self, exc: BaseException) -> TransportError | ResponseFormatError:
        """Our error for what aiohttp or the socket raised, built from text only."""
        import aiohttp

        proxy = self._proxy
        if isinstance(exc, TimeoutError):
            return TransportError("the request timed out")
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return TransportError(
                f"TLS failure: certificate verify failed: {_verify_reason(exc)}", retryable=False
            )
        if isinstance(exc, aiohttp.ClientSSLError):
            return TransportError(f"TLS failure: {_tls_reason(exc)}", retryable=False)
        if isinstance(exc, aiohttp.ClientHttpProxyError):
            # The proxy answered CONNECT (or the request) with a refusal: 407, 403, ...
            return TransportError(
                f"the proxy {_shown_proxy(proxy)} refused the connection: "
                f"HTTP {exc.status} {shown(exc.message, 100)}".rstrip(),
                retryable=False,
            )
        if isinstance(exc, aiohttp.ClientProxyConnectionError):
            return TransportError(
                f"cannot reach the proxy {_shown_proxy(proxy)}: {_os_reason(exc.os_error)}"
            )
        if isinstance(exc, aiohttp.ClientPayloadError):
            if "Decompressed data exceeds" not in str(exc):
                return TransportError("the answer was cut short before its end")
            # aiohttp < 3.14 refuses a gzip read decoding to more than 32 MiB itself.
            limit = self._max_response_size
            if limit <= _AIOHTTP_DECODED_LIMIT:
                return _too_large(limit)
            return _too_large(_AIOHTTP_DECODED_LIMIT, "aiohttp's own limit on one decoded read")
        return TransportError(f"{exc.__class__.__name__}: {_describe(exc)}")

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

            if self._ssl is None:
                self._ssl = default_ssl_context(self._trust_env)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl),
                # InstantPay's API is stateless: no cookie is kept or sent back.
                cookie_jar=aiohttp.DummyCookieJar(),
                # The proxy was read from the environment when the client was made;
                # aiohttp's own reading would also send ~/.netrc passwords to the API.
                trust_env=False,
            )
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


def _too_large(limit: int, what: str = "max_response_size") -> ResponseFormatError:
    return ResponseFormatError(f"the answer is larger than {what} ({limit} bytes)")


def _proxy_headers(proxy: Proxy | None) -> dict[str, str] | None:
    """``Proxy-Authorization`` for a proxy with credentials (Basic, as curl sends it)."""
    if proxy is None or proxy.user is None:
        return None
    secret = f"{proxy.user}:{proxy.password or ''}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(secret).decode("ascii")}


def _shown_proxy(proxy: Proxy | None) -> str:
    # A proxy the client did not choose: a given session's own (its trust_env).
    return "(the session's)" if proxy is None else proxy.shown


def _verify_reason(exc: aiohttp.ClientConnectorCertificateError) -> str:
    """Why the certificate was refused, as OpenSSL says it: ``self-signed certificate``..."""
    cause = exc.certificate_error
    reason = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
    host = f"{exc.host}:{exc.port}"
    return f"{reason or _os_reason(cause)} ({host})"


def _tls_reason(exc: aiohttp.ClientSSLError) -> str:
    cause = getattr(exc, "os_error", None)
    return f"{_os_reason(cause) if cause is not None else type(exc).__name__}"


def _os_reason(cause: BaseException) -> str:
    """An OS or SSL error's own words, without aiohttp's wrapping."""
    if isinstance(cause, ssl.SSLError) and cause.reason:
        library = f"{cause.library} " if cause.library else ""
        return f"{library}{cause.reason}".replace("_", " ").lower()
    return getattr(cause, "strerror", None) or str(cause) or type(cause).__name__


def _describe(exc: BaseException) -> str:
    import aiohttp

    # str() of aiohttp's connection errors names the host and the OS error; their
    # repr() and request_info carry the headers, which are never used here. A
    # ClientResponseError's message can quote the server's bytes (an answer aiohttp
    # could not parse), escaped beyond recognition: only its status is kept.
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    return str(exc) or "no detail"
