"""The client: its arguments, its lifecycle, and its public calls.

Each page asked for, alone or by a walk (``pagination.py``), is one
``protocol.build_request`` run as a :class:`PageCall` (``page_call.py``): the
transport, ``protocol.read_response``, the retries.
"""

from __future__ import annotations

import functools
import os
import ssl as _ssl
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from .._core import protocol
from .._core.checkpoint import Checkpoint, Consistency
from .._core.checks import check_number, check_positive
from .._core.protocol import Query
from ..credentials import Credentials, check_endpoint_ip
from ..models import LinkStatus, Page
from .aiohttp_transport import AiohttpTransport
from .clock import Clock, LoopClock
from .network import Proxy, check_ssl, parse_proxy, proxy_from_env
from .page_call import PageCall
from .pagination import LinkWalk, PageWalk
from .retry import RetryPolicy, RetryState
from .throttle import Throttle
from .transport import Transport

__all__ = ["DEFAULT_BASE_URL", "Client", "WalkOptions"]

DEFAULT_BASE_URL = "https://api.instantpay.in"
DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_RETRY = RetryPolicy()
# retry=None: one try, bounded in all by the default max_time (a server sending one
# byte a second resets the read timeout with each byte, never this bound).
_SINGLE_TRY = RetryPolicy(max_tries=1, max_time=DEFAULT_RETRY.max_time)

if TYPE_CHECKING:
    import aiohttp

Statuses = LinkStatus | str | Iterable[LinkStatus | str] | None


class WalkOptions(TypedDict, total=False):
    """The options of a walk (:meth:`Client.iter_pages`, :meth:`Client.iter_links`).

    - ``per_page``: the page size asked for (``DEFAULT_PER_PAGE`` when ``None``); the
      server's own page size wins.
    - ``status``, ``contact``, ``link_id``: InstantPay's filters.
    - ``start_page`` (1), ``concurrency`` (1: pages requested at once),
      ``consistency`` (``"fast"`` or ``"strict"``).
    - ``resume``: a :class:`Checkpoint` to continue from, instead of the filters.
    - ``endpoint_ip``: the end customer's IP for these requests.
    """

    per_page: int | None
    status: Statuses
    contact: str | None
    link_id: str | None
    start_page: int
    concurrency: int
    consistency: Consistency
    resume: Checkpoint | None
    endpoint_ip: str | None


_FILTERS = ("per_page", "status", "contact", "link_id")


class Client:
    """An asyncio client for InstantPay's Payout Link List API.

    One client is meant to be shared for an application's lifetime, by any number
    of concurrent tasks, in one event loop. Use ``async with Client(...)`` or
    ``await client.aclose()``; it closes only what it created.

    Arguments (all but ``credentials`` keyword-only):

    - ``credentials``: :class:`Credentials` (or use :meth:`from_env`).
    - ``base_url="https://api.instantpay.in"``: https, or plain http to a loopback host.
    - ``session=None``: an ``aiohttp.ClientSession`` to use (and leave open) instead of
      the client's own. Its connector, and its own ``trust_env``, then decide the pool,
      the CAs and the proxy, unless ``ssl`` or ``proxy`` is given.
    - ``retry=RetryPolicy()``: how each page request is retried; ``None`` sends each
      request once (bounded all the same by the default ``max_time``).
    - ``connect_timeout=10.0``, ``read_timeout=30.0``: seconds, per attempt; the read
      timeout counts from the last byte received.
    - ``max_response_size=32 MiB``: answers larger than this, decoded, are refused,
      whatever their ``Content-Encoding`` or ``Content-Length``.
    - ``proxy=None``: ``"http://[user:password@]host:port"``, a forward proxy every request
      goes through (HTTPS through ``CONNECT``); it wins over the environment. Its password
      appears in no repr, error or log line.
    - ``trust_env=True``: read the environment, as curl, requests and httpx do, when the
      client is made: ``HTTPS_PROXY`` (``HTTP_PROXY`` for an http ``base_url``), else
      ``ALL_PROXY``, unless ``NO_PROXY`` names the host (either case); and the CAs of
      ``SSL_CERT_FILE``/``SSL_CERT_DIR``. ``False`` ignores all of them.
    - ``ssl=None``: an ``ssl.SSLContext`` to trust instead of the system's CAs (a private
      CA, a client certificate). It must verify certificates: checking cannot be switched
      off through this library.
    - ``max_connections=100``: the connection pool of the session the client creates
      (not with ``session``: that session's connector decides).
    - ``clock=None``: what every wait (retries, Retry-After, a walk's hold) is slept on,
      and whose wall time an HTTP-date Retry-After is counted from (see :class:`Clock`);
      the event loop's own by default, ``ipay_links.testing.FakeClock`` in tests.
    - ``transport=None``: anything with the ``send`` and ``aclose`` of
      ``ipay_links._io.transport.Transport``, instead of aiohttp (not with ``session``).

    Raises ``TypeError`` or ``ValueError`` naming a bad argument, before anything is sent.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        clock: Clock | None = None,
        transport: Transport | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl: _ssl.SSLContext | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise TypeError(f"credentials must be Credentials, not {type(credentials).__name__}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy or None, not {type(retry).__name__}")
        check_positive("max_response_size", max_response_size)
        check_positive("max_connections", max_connections)
        if not isinstance(trust_env, bool):
            raise TypeError(f"trust_env must be True or False, not {type(trust_env).__name__}")
        context = check_ssl(ssl)
        if session is not None and max_connections != DEFAULT_MAX_CONNECTIONS:
            raise ValueError(
                "max_connections sizes the client's own session: set the limit on your "
                "session's connector instead (aiohttp.TCPConnector(limit=...))"
            )
        self._credentials = credentials
        self._base_url = protocol.check_base_url(base_url)
        chosen: Proxy | None = None
        if proxy is not None:
            chosen = parse_proxy(proxy)
        elif trust_env and session is None:
            chosen = proxy_from_env(self._base_url, os.environ)
        self._proxy_password = None if chosen is None else chosen.password
        self._retry = retry
        connect = float(check_number("connect_timeout", connect_timeout, 0, inclusive=False))
        read = float(check_number("read_timeout", read_timeout, 0, inclusive=False))
        self._clock: Clock = LoopClock() if clock is None else clock
        if transport is None:
            transport = AiohttpTransport(
                self._base_url,
                session=session,
                connect_timeout=connect,
                read_timeout=read,
                max_response_size=max_response_size,
                # A test's clock is not wall time: its budget bounds no request in seconds.
                real_time=isinstance(self._clock, LoopClock),
                proxy=chosen,
                ssl_context=context,
                trust_env=trust_env,
                max_connections=max_connections,
            )
        elif session is not None:
            raise ValueError("give a session or a transport, not both")
        elif proxy is not None or context is not None:
            raise ValueError(
                "proxy and ssl configure the client's own transport: not with transport="
            )
        self._transport = transport
        self._closed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Client:
        """A client configured from the environment, as the ``ipay-links`` command is.

        Credentials from ``IPAY_CLIENT_ID``, ``IPAY_CLIENT_SECRET``, ``IPAY_ENDPOINT_IP``
        (and ``IPAY_AUTH_CODE``, ``"1"`` when unset); the address from ``IPAY_BASE_URL``
        (:data:`DEFAULT_BASE_URL`, the real API, when unset). Pointing ``IPAY_BASE_URL`` at
        ``python -m ipay_links.testing`` (with its credentials) runs any program against
        the simulator unchanged. ``environ`` is the mapping read instead of ``os.environ``
        (the proxy variables of ``trust_env`` are read from ``os.environ`` all the same).
        ``overrides`` are any other arguments of :class:`Client`
        (``base_url`` or ``credentials`` among them, to set them in code instead).

        Raises ``ValueError`` naming every required variable that is unset or empty.
        """
        env = os.environ if environ is None else environ
        if "credentials" not in overrides:
            overrides["credentials"] = Credentials.from_env(env)
        overrides.setdefault("base_url", env.get("IPAY_BASE_URL") or DEFAULT_BASE_URL)
        return cls(**overrides)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Client {self._base_url} credentials={self._credentials!r} {state}>"

    @property
    def base_url(self) -> str:
        """The API root requests go to, without a trailing slash."""
        return self._base_url

    @property
    def clock(self) -> Clock:
        """The clock every wait of this client is slept on."""
        return self._clock

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called: the client sends nothing more."""
        return self._closed

    async def __aenter__(self) -> Client:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if this client created it. Closing twice is fine."""
        if self._closed:
            return
        self._closed = True
        await self._transport.aclose()

    async def fetch_page(
        self,
        page: int = 1,
        *,
        per_page: int | None = None,
        status: Statuses = None,
        contact: str | None = None,
        link_id: str | None = None,
        endpoint_ip: str | None = None,
    ) -> Page:
        """Fetch page ``page`` (from 1) of payout links, as a :class:`Page`.

        ``per_page`` is the page size asked for (``DEFAULT_PER_PAGE``, 100, when ``None``;
        the server's own wins); ``status`` (one or several, any case), ``contact`` and
        ``link_id`` are InstantPay's filters; ``endpoint_ip`` is the end customer's IP for
        this call (``X-Ipay-Endpoint-Ip``) instead of the credentials' one.

        Raises ``TypeError`` or ``ValueError`` for a bad argument, before anything is
        sent; an :class:`IpayError` (``ApiError`` and its kinds, ``TransportError``,
        ``ResponseFormatError``) when the call fails after its retries; ``RuntimeError``
        when the client is closed or belongs to another event loop.
        """
        query = protocol.make_query(
            per_page=per_page, status=status, contact=contact, link_id=link_id
        )
        protocol.check_page(page)
        ip = None if endpoint_ip is None else check_endpoint_ip(endpoint_ip)
        self._check_open()
        return await self._fetch(query, page, endpoint_ip=ip)

    def iter_pages(self, **options: Unpack[WalkOptions]) -> PageWalk:
        """Walk the pages from ``start_page`` on, as the server's meta says (:class:`PageWalk`).

        The options (all keyword, all optional) are those of :class:`WalkOptions`:
        ``per_page``, ``status``, ``contact``, ``link_id``, ``start_page=1``,
        ``concurrency=1``, ``consistency="fast"``, ``resume`` and ``endpoint_ip``.
        ``resume`` continues from a walk's :class:`Checkpoint` (its query included):
        give it instead of the filters and ``start_page``. Raises ``TypeError`` or
        ``ValueError`` for a bad option, before anything is sent.
        """
        return self._walk(options)

    def iter_links(
        self, *, max_items: int | None = None, **options: Unpack[WalkOptions]
    ) -> LinkWalk:
        """Walk every payout link, page after page, at most ``max_items``; see :class:`LinkWalk`.

        The other options are those of :meth:`iter_pages`.
        """
        if max_items is not None:
            check_positive("max_items", max_items)
        pages = self._walk(options, max_records=max_items, counts_records=False)
        return LinkWalk(pages, max_items=max_items)

    def _walk(
        self, options: WalkOptions, *, max_records: int | None = None, counts_records: bool = True
    ) -> PageWalk:
        """The :class:`PageWalk` of ``options``, every one checked before anything is sent."""
        unknown = sorted(set(options) - WalkOptions.__optional_keys__)
        if unknown:
            raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
        resume = options.get("resume")
        filters = {key: options.get(key) for key in _FILTERS}
        start_page = options.get("start_page", 1)
        if resume is None:
            query = protocol.make_query(**filters)  # type: ignore[arg-type]
        else:
            query = _resumed_query(resume, filters, start_page)
            start_page = resume.next_page or 1
        endpoint_ip = options.get("endpoint_ip")
        ip = None if endpoint_ip is None else check_endpoint_ip(endpoint_ip)
        self._check_open()
        return PageWalk(
            functools.partial(self._fetch, endpoint_ip=ip),
            query,
            start_page=start_page,
            concurrency=options.get("concurrency", 1),
            consistency=options.get("consistency", "fast"),
            resume=resume,
            clock=self._clock,
            max_records=max_records,
            counts_records=counts_records,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Client is closed; create a new one")

    async def _fetch(
        self,
        query: Query,
        page: int,
        gate: Throttle | None = None,
        *,
        endpoint_ip: str | None = None,
    ) -> Page:
        """Fetch page ``page`` of an already checked query, with retries (:class:`PageCall`).

        Each attempt takes a slot of ``gate`` (a walk's throttle) when one is given.
        """
        call = PageCall(
            request=protocol.build_request(self._credentials, query, page, endpoint_ip),
            page=page,
            gate=gate,
            retry=RetryState(self._retry or _SINGLE_TRY, self._clock),
            transport=self._transport,
            clock=self._clock,
            secrets=(self._credentials.client_secret, self._proxy_password or ""),
        )
        return await call.run()


def _resumed_query(resume: Checkpoint, filters: Mapping[str, object], start_page: int) -> Query:
    """The checkpoint's query, checked again; refuse filters given beside it."""
    if not isinstance(resume, Checkpoint):
        raise TypeError(f"resume must be a Checkpoint, not {type(resume).__name__}")
    if any(value is not None for value in filters.values()) or start_page != 1:
        raise ValueError("resume= carries its own query: pass no filters, per_page or start_page")
    saved = resume.query
    return protocol.make_query(
        per_page=saved.per_page, status=saved.status, contact=saved.contact, link_id=saved.link_id
    )
