"""The simulator: InstantPay's list endpoint on aiohttp.web, and what it is scripted to do.

It owns the endpoint's behaviour (credentials, the envelope, filters, paging, RPI for a
request outside the contract), the faults and mutations scripted on it, in order, and
the log of the requests it saw. What a fault serves is in ``_faults.py``, how a mutation
changes the data set in ``_mutations.py``, the data set itself in ``_data.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from aiohttp import web

from .._core.codec import IST
from .._core.protocol import LIST_PATH
from ..credentials import Credentials
from ._data import generate_links
from ._faults import Fault
from ._mutations import Mutation
from ._requests import SeenRequest

__all__ = ["SIMULATOR_CREDENTIALS", "Simulator"]

# Made-up credentials the simulator accepts by default; printing them is harmless.
SIMULATOR_CREDENTIALS = Credentials(
    client_id="simulator-client-id",
    client_secret="simulator-client-secret",  # noqa: S106  # made up, accepted only here
    endpoint_ip="127.0.0.1",
)


class _BadRequest(Exception):
    """The request breaks InstantPay's documented contract: answered with RPI."""


def _number(value: object, name: str, default: int) -> int:
    if value is None:
        return default
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise _BadRequest(f"pagination.{name} must be a positive whole number")
    return int(text)


def _contact_matches(link: Mapping[str, Any], contact: str) -> bool:
    details = link.get("contactDetails") or {}
    wanted = contact.strip().lower()
    return any(str(details.get(key) or "").lower() == wanted for key in ("name", "email", "mobile"))


class Simulator:
    """A faithful stand-in for InstantPay's Payout Link List endpoint.

    Run it with :meth:`serve`. Every request is kept in :attr:`requests` (a
    :class:`SeenRequest` each); faults queued with :meth:`inject` are served one per
    request, in order. Arguments (all but ``links`` keyword-only):

    - ``links=100``: a count (a deterministic data set is generated from ``seed=0``,
      with :func:`generate_links`) or a list of links in wire form, newest first,
      kept as :attr:`links`.
    - ``credentials=SIMULATOR_CREDENTIALS``: the only ones accepted; requests with
      others get an ``IAC`` envelope.
    - ``default_page_size=10``: the page size when a request asks for none.
    - ``max_page_size=None``: when set, the server pages by at most this many, whatever
      was asked for, as the real server does.
    - ``latency=0.0``: seconds every answer waits before it is sent.
    - ``environment="SANDBOX"``: the envelope's ``environment``.
    - ``ignore_page_number=False``: ``True`` plays a broken server that serves page 1
      for every page number.
    - ``keep_requests=None``: keep only the latest this many in :attr:`requests`
      (:attr:`request_count` counts every one); all of them by default.

    Nothing is checked. :attr:`in_flight` and :attr:`max_in_flight` count the requests
    being answered; :attr:`url` is the base URL while serving.
    """

    def __init__(
        self,
        links: int | list[dict[str, Any]] = 100,
        *,
        seed: int = 0,
        credentials: Credentials = SIMULATOR_CREDENTIALS,
        default_page_size: int = 10,
        max_page_size: int | None = None,
        latency: float = 0.0,
        environment: str = "SANDBOX",
        ignore_page_number: bool = False,
        keep_requests: int | None = None,
    ) -> None:
        self.links: list[dict[str, Any]] = (
            generate_links(links, seed=seed) if isinstance(links, int) else list(links)
        )
        self.credentials = credentials
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.latency = latency
        self.environment = environment
        self.ignore_page_number = ignore_page_number
        self.mutations: list[Mutation] = []
        self._rng = random.Random(seed + 1)
        self._next_index = len(self.links)
        self._served_pages: set[int | None] = set()
        self.requests: list[SeenRequest] = []
        self.request_count = 0  # every request ever, also those no longer kept
        self.keep_requests = keep_requests
        self.in_flight = 0
        self.max_in_flight = 0
        self.url: str | None = None
        self._faults: list[tuple[Fault, int | None]] = []
        self._periodic: list[tuple[Fault, int]] = []
        self._arrived: asyncio.Event | None = None
        self._paused = False
        self._resumed: asyncio.Event | None = None

    # -- scripting -------------------------------------------------------------------

    def inject(self, fault: Fault, times: int = 1, *, page: int | None = None) -> None:
        """Serve ``fault`` to each of the next ``times`` requests, after those queued before.

        With ``page``, only requests for that page number get it.
        """
        self._faults.extend([(fault, page)] * times)

    def inject_every(self, fault: Fault, every: int) -> None:
        """Serve ``fault`` to every ``every``-th request, for as long as the simulator runs.

        Raises ``ValueError`` if ``every`` is below 1.
        """
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self._periodic.append((fault, every))

    def pause(self) -> None:
        """Hold every answer until :meth:`resume`: requests are received and kept, not answered.

        A test can then see what a client sends before its first answer, whatever the
        speed of the machine.
        """
        self._paused = True
        if self._resumed is not None:
            self._resumed.clear()

    def resume(self) -> None:
        """Answer the requests held since :meth:`pause`, and every request after."""
        self._paused = False
        if self._resumed is not None:
            self._resumed.set()

    def _next_fault(self, page: int | None, number: int) -> Fault | None:
        for fault, every in self._periodic:
            if number % every == 0:
                return fault
        for index, (fault, wanted) in enumerate(self._faults):
            if wanted is None or wanted == page:
                del self._faults[index]
                return fault
        return None

    def mutate(self, mutation: Mutation) -> None:
        """Apply ``mutation`` to the data set when it is due (see :class:`Mutation`)."""
        self.mutations.append(mutation)

    async def wait_for_requests(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109  # a test helper must never hang a suite
    ) -> None:
        """Wait until the server has received ``count`` requests in all (while serving).

        Every request counts, also those :attr:`requests` no longer keeps. Raises
        ``TimeoutError`` after ``timeout`` seconds (5 by default, real time) and
        ``RuntimeError`` when the simulator is not serving.
        """
        arrived = self._arrived
        if arrived is None:
            raise RuntimeError("the simulator is not serving")
        async with asyncio.timeout(timeout):
            while self.request_count < count:
                arrived.clear()
                await arrived.wait()

    # -- serving ---------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp application, for ``aiohttp.test_utils.TestServer`` or your own runner."""
        app = web.Application()
        app.router.add_route("*", LIST_PATH, self._handle)
        return app

    @asynccontextmanager
    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> AsyncIterator[str]:
        """Run on ``host:port`` (a free port by default) and yield the base URL.

        With ``ssl_context`` it serves HTTPS, for testing certificate handling.
        """
        runner = web.AppRunner(
            self.make_app(), handle_signals=False, access_log=None, shutdown_timeout=0.1
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
            await site.start()
            bound_host, bound_port = runner.addresses[0][:2]
            scheme = "http" if ssl_context is None else "https"
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            self.url = f"{scheme}://{shown}:{bound_port}"
            self._arrived = asyncio.Event()
            self._resumed = asyncio.Event()
            if not self._paused:
                self._resumed.set()
            yield self.url
        finally:
            self.url = self._arrived = self._resumed = None
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        seen = SeenRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            raw_body=raw,
            body=None,
        )
        with contextlib.suppress(_BadRequest):  # its page, known on arrival; answered below
            self._parse(request.headers, raw, seen)
        self.requests.append(seen)
        self.request_count += 1
        # Faults go to requests in their order of arrival, whatever the latency.
        fault = self._next_fault(seen.page, self.request_count)
        if self.keep_requests is not None and len(self.requests) > self.keep_requests:
            del self.requests[: len(self.requests) - self.keep_requests]
        if self._arrived is not None:
            self._arrived.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if self._resumed is not None:
                await self._resumed.wait()
            http_status, envelope = self.answer(request.method, request.headers, raw, seen)
            self._apply_mutations(seen)
            if fault is not None:
                seen.fault = fault.kind
                return await fault.respond(request, seen, http_status, envelope)
            seen.http_status, seen.statuscode = http_status, envelope["statuscode"]
            return web.Response(
                status=http_status, body=json.dumps(envelope), content_type="application/json"
            )
        finally:
            self.in_flight -= 1

    def _apply_mutations(self, seen: SeenRequest) -> None:
        number = self.request_count
        for mutation in self.mutations:
            if mutation.due(seen, self._served_pages, number):
                self._next_index += mutation.apply(self.links, self._rng, self._next_index)
        self._served_pages.add(seen.page)

    # -- InstantPay's behaviour --------------------------------------------------------

    def answer(
        self,
        method: str,
        headers: Mapping[str, str],
        raw: bytes,
        seen: SeenRequest | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """The (HTTP status, envelope) InstantPay would send for this request.

        ``method``, ``headers`` and ``raw`` (the body's bytes) are the request's; no
        fault, latency or mutation is applied. ``seen``, when given, gets the body,
        page and page size read from it.
        """
        if not self._authorised(headers):
            return 200, self.envelope("IAC", "Invalid dealer credentials")
        try:
            if method != "GET":
                raise _BadRequest(f"{method} is not allowed here; use GET")
            return 200, self._page(*self._parse(headers, raw, seen))
        except _BadRequest as exc:
            return 200, self.envelope("RPI", f"Request parameters invalid: {exc}")

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        expected = self.credentials
        return (
            headers.get("X-Ipay-Auth-Code") == expected.auth_code
            and headers.get("X-Ipay-Client-Id") == expected.client_id
            and secrets.compare_digest(
                headers.get("X-Ipay-Client-Secret", "").encode(), expected.client_secret.encode()
            )
        )

    def _parse(
        self, headers: Mapping[str, str], raw: bytes, seen: SeenRequest | None
    ) -> tuple[dict[str, Any], int, int]:
        if not headers.get("X-Ipay-Endpoint-Ip"):
            raise _BadRequest("X-Ipay-Endpoint-Ip is missing")
        if raw and not headers.get("Content-Type", "").startswith("application/json"):
            raise _BadRequest("the body must be sent as application/json")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise _BadRequest("the body is not JSON") from None
        if not isinstance(body, dict):
            raise _BadRequest("the body is not a JSON object")
        filters = body.get("filters") or {}
        pagination = body.get("pagination") or {}
        if not isinstance(filters, dict) or not isinstance(pagination, dict):
            raise _BadRequest("filters and pagination must be objects")
        page = _number(pagination.get("pageNumber"), "pageNumber", 1)
        per_page = _number(
            pagination.get("recordsPerPage"), "recordsPerPage", self.default_page_size
        )
        if seen is not None:
            seen.body, seen.page, seen.per_page = body, page, per_page
        if self.max_page_size is not None:
            per_page = min(per_page, self.max_page_size)
        return filters, page, per_page

    def matching(self, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The links a query's filters select, newest first."""
        links = self.links
        status = filters.get("status")
        if status:
            items = [status] if isinstance(status, str) else status
            if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
                raise _BadRequest("filters.status must be a string or a list of strings")
            wanted = set(items)
            links = [link for link in links if link["status"] in wanted]
        if contact := filters.get("contact"):
            links = [link for link in links if _contact_matches(link, str(contact))]
        if link_id := filters.get("linkId"):
            links = [link for link in links if link["linkId"] == link_id]
        return links

    def _page(self, filters: Mapping[str, Any], page: int, per_page: int) -> dict[str, Any]:
        links = self.matching(filters)
        if self.ignore_page_number:  # a broken server: always the first page
            page = 1
        start = (page - 1) * per_page
        records = links[start : start + per_page]
        if not records:
            return self.envelope("ERR", "No Record Found")
        meta = {
            "totalPages": -(-len(links) // per_page),
            "currentPage": page,
            "totalRecords": len(links),
            "recordsOnCurrentPage": len(records),
            "recordFrom": start + 1,
            "recordTo": start + len(records),
        }
        return self.envelope("TXN", "Transaction Successful", {"meta": meta, "records": records})

    def envelope(self, statuscode: str, message: str, data: Any = None) -> dict[str, Any]:
        """InstantPay's envelope, exactly as the reference page shows it.

        ``statuscode`` (``TXN``, ``ERR``, ...), ``message`` as its ``status`` and
        ``data``, with a fresh ``timestamp`` (Indian time) and ``ipay_uuid``, and the
        simulator's ``environment``.
        """
        return {
            "statuscode": statuscode,
            "actcode": None,
            "status": message,
            "data": data,
            "timestamp": datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S"),
            "ipay_uuid": f"h0009{secrets.token_hex(16)}",
            "orderid": None,
            "environment": self.environment,
            "internalCode": None,
        }
