"""Sans-I/O InstantPay protocol: build a list request, read an answer into a Page or an error.

Nothing here imports aiohttp: every status mapping is tested without a network.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from ..credentials import Credentials
from ..errors import (
    ApiError,
    AuthenticationError,
    RateLimitError,
    ResponseFormatError,
    ServiceUnavailableError,
)
from ..models import LinkStatus, Page, PageMeta
from . import codec
from .checks import check_positive

__all__ = [
    "DEFAULT_PER_PAGE",
    "LIST_PATH",
    "MAX_PER_PAGE",
    "PUSH_BACK_HTTP",
    "Query",
    "Request",
    "build_request",
    "check_base_url",
    "check_page",
    "check_positive",
    "make_query",
    "read_response",
    "retry_after_of",
]

LIST_PATH = "/payments/payout/link/list"
# InstantPay documents no default or maximum page size, and its own page size
# wins anyway (see PageMeta). These are ours: a page of 1,000 links is ~0.5 MB.
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
USER_AGENT = "ipay-links"

# Status codes by family, from instantpay-facts.md (InstantPay's error-code page).
AUTH_CODES = frozenset({"IAC", "IAT", "UAD", "AAB", "OUI", "IUA", "CNL", "KYC", "VCI"})
TRANSIENT_CODES = frozenset({"SPD", "SPE", "ISE", "IPE", "TSU", "SNA", "USM"})
PERMANENT_CODES = frozenset({"RPI", "IRT", "IEC"})
# HTTP statuses worth another try when the body carries no code that says otherwise.
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})
# Statuses that push back (too many requests, unavailable): read with their Retry-After.
PUSH_BACK_HTTP = frozenset({429, 503})
NO_RECORD_FOUND = "no record found"


@attrs.frozen
class Query:
    """What a walk asks for, besides the page number: filters and the page size asked for.

    - ``per_page=100`` (:data:`DEFAULT_PER_PAGE`): the page size asked for; the
      server's own page size wins.
    - ``status=None``: a tuple of InstantPay's status strings (``("ISSUED",)``), or
      ``None`` for links of every status.
    - ``contact=None``: a name, mobile number or email the links were sent to.
    - ``link_id=None``: one link's id.

    The client builds it from a call's arguments and checks them there (``TypeError``
    or ``ValueError`` naming a bad one, with ``per_page`` from 1 to
    :data:`MAX_PER_PAGE`); this class itself checks nothing. Read it from a
    :class:`Checkpoint` or a walk's ``query``.
    """

    per_page: int = DEFAULT_PER_PAGE
    status: tuple[str, ...] | None = None
    contact: str | None = None
    link_id: str | None = None


@attrs.frozen
class Request:
    """One HTTP request, ready for any transport."""

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes


def check_page(page: object) -> int:
    """Return ``page`` if it is a page number (1 or more), else raise."""
    return check_positive("page", page)


def _statuses(status: LinkStatus | str | Iterable[LinkStatus | str]) -> tuple[str, ...]:
    """The statuses asked for, in InstantPay's upper case (``claimed`` is ``CLAIMED``)."""
    items = [status] if isinstance(status, str) else list(status)
    if not items:
        raise ValueError("status is empty: pass None for every status, or at least one status")
    known = {member.value for member in LinkStatus}
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"status must be LinkStatus or str, not {type(item).__name__}")
        if not item.isascii() or item.upper() not in known:  # "ıssued".upper() is ISSUED
            raise ValueError(f"unknown status {item!r}; expected one of {', '.join(sorted(known))}")
    return tuple(dict.fromkeys(str(LinkStatus(item.upper()).value) for item in items))


def _filter_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} is empty: pass None to leave the filter out")
    return value


def make_query(
    *,
    per_page: int | None = None,
    status: LinkStatus | str | Iterable[LinkStatus | str] | None = None,
    contact: str | None = None,
    link_id: str | None = None,
) -> Query:
    """Check every argument of a list call and return the :class:`Query`, or raise.

    ``per_page=None`` asks for :data:`DEFAULT_PER_PAGE`.
    """
    if per_page is None:
        per_page = DEFAULT_PER_PAGE
    check_positive("per_page", per_page)
    if per_page > MAX_PER_PAGE:
        raise ValueError(f"per_page must be at most {MAX_PER_PAGE}, got {per_page}")
    return Query(
        per_page=per_page,
        status=None if status is None else _statuses(status),
        contact=_filter_text("contact", contact),
        link_id=_filter_text("link_id", link_id),
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """Return ``base_url`` without its trailing slash; refuse all but https and loopback http.

    An error never repeats the URL: it may carry a password.
    """
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str, not {type(base_url).__name__}")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in base_url):
        raise ValueError("base_url must not hold white space or control characters")
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018  # read for its check: a port that is not one raises
    except ValueError:
        raise ValueError("base_url is not a URL: its host or port cannot be read") from None
    if parts.scheme not in ("https", "http"):
        scheme = f"a {parts.scheme}:// URL" if parts.scheme else "a URL without a scheme"
        raise ValueError(f"base_url must be an https:// URL, not {scheme}")
    if "@" in parts.netloc:
        raise ValueError(
            "base_url must not carry user information (user:password@): InstantPay takes "
            "its credentials in headers, from Credentials"
        )
    if not parts.hostname:
        raise ValueError("base_url must be an https:// URL with a host")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"base_url is plain http to a non-loopback host ({parts.hostname}): the secret "
            "would travel unencrypted; use https://"
        )
    if "?" in base_url or "#" in base_url:
        raise ValueError("base_url must not carry a query or a fragment")
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise ValueError("base_url's host is not a valid host name") from None
    return base_url.rstrip("/")


def build_request(
    credentials: Credentials, query: Query, page: int, endpoint_ip: str | None = None
) -> Request:
    """The GET with a JSON body that InstantPay's reference page shows.

    ``endpoint_ip``, when given, is the end customer's IP for this request instead of
    the one in ``credentials``.
    """
    filters: dict[str, Any] = {}
    if query.status is not None:
        filters["status"] = list(query.status)
    if query.contact is not None:
        filters["contact"] = query.contact
    if query.link_id is not None:
        filters["linkId"] = query.link_id
    # The reference sends both pagination values as strings.
    payload: dict[str, Any] = {
        "pagination": {"pageNumber": str(page), "recordsPerPage": str(query.per_page)}
    }
    if filters:
        payload = {"filters": filters, **payload}
    headers = {
        "X-Ipay-Auth-Code": credentials.auth_code,
        "X-Ipay-Client-Id": credentials.client_id,
        "X-Ipay-Client-Secret": credentials.client_secret,
        "X-Ipay-Endpoint-Ip": endpoint_ip or credentials.endpoint_ip,
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Request(method="GET", path=LIST_PATH, headers=headers, body=body)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``now`` is the wall time (Unix seconds) an HTTP-date is counted from; without it, a
    date is not read (``None``).
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    if (millis := lowered.get("retry-after-ms")) is not None:
        try:
            return _seconds(float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        if now is None:
            return None
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        seconds = when.timestamp() - now
    return _seconds(seconds)


def retry_after_of(
    http_status: int, headers: Mapping[str, str], now: float | None = None
) -> float | None:
    """The wait a 429 or 503 answer asks for, from its headers; ``None`` for any other.

    ``now``: the wall time an HTTP-date is counted from (see :func:`parse_retry_after`).
    """
    return parse_retry_after(headers, now) if http_status in PUSH_BACK_HTTP else None


def _seconds(value: float) -> float | None:
    # NaN is no answer (asyncio.sleep(nan) would ignore every deadline); below 0 is now.
    return None if math.isnan(value) else max(value, 0.0)


def _error_class(statuscode: str | None, http_status: int) -> type[ApiError]:
    if http_status == 429:
        return RateLimitError
    if statuscode in AUTH_CODES:
        return AuthenticationError
    if statuscode in TRANSIENT_CODES:
        return ServiceUnavailableError
    if statuscode in PERMANENT_CODES:
        return ApiError
    # No code, the catch-all ERR, or a code we do not know: the HTTP status decides.
    if http_status >= 500 or http_status == 408:
        return ServiceUnavailableError
    if http_status in (401, 403):
        return AuthenticationError
    return ApiError


def _retryable(statuscode: str | None, http_status: int) -> bool:
    if statuscode in AUTH_CODES or statuscode in PERMANENT_CODES:
        return False
    return statuscode in TRANSIENT_CODES or http_status in RETRYABLE_HTTP


def _envelope(body: bytes) -> dict[str, Any] | None:
    try:
        document = codec.decode_json(body)
    except ResponseFormatError:
        return None
    if isinstance(document, dict) and isinstance(document.get("statuscode"), str):
        return document
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def read_response(
    http_status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    page: int,
    now: float | None = None,
) -> Page:
    """Turn one answer into a :class:`Page`, or raise the typed error it stands for.

    ``now`` is the wall time (Unix seconds) an HTTP-date ``Retry-After`` is counted
    from; without it, such a date is not read.
    """
    if 300 <= http_status < 400:
        raise ApiError(
            "InstantPay answered with a redirect, which is never followed", http_status=http_status
        )
    ok = 200 <= http_status < 300
    if ok and (decoded := codec.decode_page(body, page=page)) is not None:
        return decoded
    # Anything else is small: parsed again by the strict parser, which refuses duplicate keys.
    envelope = _envelope(body)
    retry_after = retry_after_of(http_status, headers, now)
    if envelope is None:
        if 200 <= http_status < 300:
            codec.decode_json(body)  # raises the precise JSON error, if that is the problem
            raise ResponseFormatError(f"page {page}: the answer is not an InstantPay envelope")
        raise _error_class(None, http_status)(
            "the answer is not an InstantPay envelope",
            http_status=http_status,
            retry_after=retry_after,
            retryable=_retryable(None, http_status),
        )
    statuscode: str = envelope["statuscode"]
    message = _text(envelope.get("status")) or "(no message)"
    ipay_uuid = _text(envelope.get("ipay_uuid"))
    if statuscode == "TXN" and ok:
        return codec.structure_page(envelope, page=page)
    if ok and statuscode == "ERR" and message.strip().lower() == NO_RECORD_FOUND:
        return _empty_page(envelope, page)
    raise _error_class(statuscode, http_status)(
        message,
        statuscode=statuscode,
        ipay_uuid=ipay_uuid,
        http_status=http_status,
        retry_after=retry_after,
        retryable=_retryable(statuscode, http_status),
    )


def _empty_page(envelope: Mapping[str, Any], page: int) -> Page:
    meta = PageMeta(total_pages=0, current_page=page, total_records=0, records_on_current_page=0)
    return Page(meta=meta, records=(), **codec.envelope_details(envelope))
