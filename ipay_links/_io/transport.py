"""The one I/O seam: a :class:`Transport` sends a :class:`~ipay_links._core.protocol.Request`.

A transport returns ``(status, headers, body)`` or raises :class:`TransportError`;
everything else (status mapping, retries, walks) is above it and never touches a
socket. :class:`~ipay_links._io.aiohttp_transport.AiohttpTransport` is the real one; tests may
give a client any object with these two methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from .._core.protocol import Request

__all__ = ["OnHead", "Response", "Transport"]

Response = tuple[int, Mapping[str, str], bytes]
# Called with the status and headers as soon as they are in, before the body is read.
OnHead = Callable[[int, Mapping[str, str]], None]


class Transport(Protocol):
    """What a client needs of the network."""

    async def send(
        self, request: Request, *, time_left: float, on_head: OnHead | None = None
    ) -> Response:
        """Send ``request``, within ``time_left`` seconds (``inf``: no total bound).

        Raises :class:`~ipay_links.TransportError` when no whole answer came back,
        or :class:`~ipay_links.ResponseFormatError` for an answer over the size limit.
        """
        ...

    async def aclose(self) -> None:
        """Release what the transport holds (its own session); closing twice is fine."""
        ...
