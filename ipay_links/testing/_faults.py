"""Faults the simulator can serve instead of (or around) InstantPay's normal answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import attrs
from aiohttp import web

from ._requests import SeenRequest

__all__ = ["Fault"]

_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@attrs.frozen
class Fault:
    """One scripted misbehaviour; build it with the class methods and pass it to ``inject``.

    The attributes are what the class methods set; nothing is checked.

    - ``kind``: which misbehaviour, the name of the class method that built it
      (``"rate_limit"``, ``"reset"``, ...); a request it was served to records it as
      :attr:`SeenRequest.fault`.
    - ``http_status=200``: the HTTP status served, for the kinds that serve a status of
      their own (``status``, ``html``, ``envelope``, ``rate_limit``, ``garbage``,
      ``redirect``).
    - ``headers={}``: headers of that answer (``Retry-After``, ``Location``).
    - ``body=b""``: its body, for the kinds that serve no envelope.
    - ``seconds=0.0``: how long a ``hang`` stays silent.
    - ``statuscode=None``, ``message=""``: an ``envelope`` fault's ``statuscode`` and
      ``status``.
    - ``size=0``, ``chunked=False``: an ``oversized`` answer's padding in bytes, and
      whether it is streamed without a Content-Length.
    """

    kind: str
    http_status: int = 200
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    statuscode: str | None = None
    message: str = ""
    size: int = 0
    chunked: bool = False

    @classmethod
    def status(cls, http_status: int, body: str = "") -> Fault:
        """HTTP ``http_status`` with ``body`` as plain text, and no InstantPay envelope."""
        return cls("status", http_status=http_status, body=body.encode())

    @classmethod
    def html(cls, http_status: int = 502) -> Fault:
        """A gateway's HTML error page, nginx's, with HTTP ``http_status`` (502 by default)."""
        return cls("html", http_status=http_status, body=_HTML_502.encode())

    @classmethod
    def envelope(cls, statuscode: str, message: str = "", http_status: int = 200) -> Fault:
        """An InstantPay error envelope with ``statuscode`` (``SPD``, ``IAC``, ...).

        ``message`` is its ``status`` text; ``http_status=200`` is the HTTP status, as
        InstantPay usually sends its errors. ``data`` is null; the rest of the envelope
        is the normal answer's.
        """
        return cls("envelope", http_status=http_status, statuscode=statuscode, message=message)

    @classmethod
    def rate_limit(
        cls, retry_after: str | None = "1", *, header: str = "Retry-After", http_status: int = 429
    ) -> Fault:
        """HTTP 429 (or ``http_status``) with ``header: retry_after`` (no header if None)."""
        headers = {} if retry_after is None else {header: retry_after}
        return cls(
            "rate_limit", http_status=http_status, headers=headers, body=b"Too Many Requests"
        )

    @classmethod
    def truncate(cls) -> Fault:
        """The normal answer, cut off halfway: Content-Length promises more than is sent."""
        return cls("truncate")

    @classmethod
    def reset(cls) -> Fault:
        """The connection is dropped before any answer is sent."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Accept the request, then say nothing for ``seconds`` before the normal answer."""
        return cls("hang", seconds=seconds)

    @classmethod
    def garbage(cls) -> Fault:
        """HTTP 200 with a body that is not JSON."""
        return cls("garbage", body=b'{"statuscode": "TXN", "data": {"meta": ')

    @classmethod
    def redirect(cls, location: str, http_status: int = 302) -> Fault:
        """A redirect to ``location`` (another origin, say), HTTP ``http_status`` (302)."""
        return cls("redirect", http_status=http_status, headers={"Location": location})

    @classmethod
    def oversized(cls, size: int, *, chunked: bool = False) -> Fault:
        """The normal answer padded with an extra field to about ``size`` bytes.

        With ``chunked`` it is streamed without a Content-Length, so only counting
        the bytes as they arrive can catch it.
        """
        return cls("oversized", size=size, chunked=chunked)

    async def respond(
        self,
        request: web.Request,
        seen: SeenRequest,
        http_status: int,
        envelope: dict[str, Any],
    ) -> web.StreamResponse:
        """Serve this fault for ``request``; the simulator calls it.

        ``http_status`` and ``envelope`` are the answer the request would have had
        without the fault (a ``hang`` serves it late, ``truncate`` cuts it, ``oversized``
        pads it); ``seen``, the request's record, gets the status and statuscode served.
        """
        seen.http_status = self.http_status
        if self.kind == "hang":
            await asyncio.sleep(self.seconds)
            seen.http_status, seen.statuscode = http_status, envelope["statuscode"]
            return web.json_response(envelope, status=http_status)
        if self.kind == "envelope":
            seen.statuscode = self.statuscode
            envelope = envelope | {
                "statuscode": self.statuscode,
                "status": self.message,
                "data": None,
            }
            return web.json_response(envelope, status=self.http_status)
        if self.kind == "oversized":
            padded = json.dumps(envelope | {"padding": "x" * self.size}).encode()
            if not self.chunked:
                return web.Response(body=padded, content_type="application/json")
            return await self._stream(request, padded)
        if self.kind in ("truncate", "reset"):
            return await self._cut(request, json.dumps(envelope).encode())
        content_type = "text/html" if self.kind == "html" else "text/plain"
        return web.Response(
            status=self.http_status, headers=self.headers, body=self.body, content_type=content_type
        )

    async def _stream(self, request: web.Request, body: bytes) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 65536):
            await response.write(body[start : start + 65536])
        await response.write_eof()
        return response

    async def _cut(self, request: web.Request, body: bytes) -> web.StreamResponse:
        transport = request.transport
        if self.kind == "reset" or transport is None:
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError  # aiohttp ends the handler quietly
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        transport.abort()
        return response
