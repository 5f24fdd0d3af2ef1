"""The exception tree of ipay_links.

Everything the library raises for a failed call is an :class:`IpayError`: a call to
InstantPay, or to the database mirror (:class:`DatabaseError`, from ``ipay_links.db``).
Programmer mistakes (bad arguments, a closed client) are plain ``ValueError``,
``TypeError`` or ``RuntimeError`` instead, raised before any request is sent.

No error carries a header, the client secret or an aiohttp object: errors are
built from message text only, so they are safe to log and to send to support.
Text a server sent (a status message, a code, a request id, a reason phrase) is
untrusted: an error keeps it only with control characters escaped (``\\n``,
``\\x1b``: no forged log line, no terminal escape), cut to a few hundred characters,
and with every secret of the call that raised it (:func:`hiding`) replaced by ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ConsistencyError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "IpayError",
    "NotSyncedError",
    "RateLimitError",
    "ResponseFormatError",
    "SchemaError",
    "ServiceUnavailableError",
    "SyncBusyError",
    "TransportError",
    "UnstorableLinkError",
]


# C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides, and
# lone surrogates (which no UTF-8 stream, a log file's included, can write).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
MAX_SERVER_TEXT = 300
_HIDDEN: ContextVar[tuple[str, ...]] = ContextVar("ipay_links_hidden", default=())


@contextmanager
def hiding(*secrets: str) -> Iterator[None]:
    """Within this block, every error built shows each of ``secrets`` as ``***``."""
    token = _HIDDEN.set(_HIDDEN.get() + tuple(secret for secret in secrets if secret))
    try:
        yield
    finally:
        _HIDDEN.reset(token)


def shown(text: str, limit: int = MAX_SERVER_TEXT) -> str:
    """``text`` safe to print: the secrets being hidden as ``***``, controls escaped, cut."""
    forms = [form for secret in _HIDDEN.get() for form in _forms(secret)]
    text = _without(text, forms)
    cut = _without(_UNSAFE.sub(_escape, text[:limit]), forms)
    return cut if len(text) <= limit else f"{cut}... ({len(text) - limit} more characters)"


def _forms(secret: str) -> set[str]:
    """The secret as written, and as escaping (ours, repr's, a bytes repr's) would show it."""
    return {
        secret,
        _UNSAFE.sub(_escape, secret),
        repr(secret)[1:-1],
        repr(secret.encode("utf-8", "surrogateescape"))[2:-1],
        secret.encode("unicode_escape").decode("ascii"),
    }


def _without(text: str, forms: list[str]) -> str:
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class IpayError(Exception):
    """Root of every error a call to InstantPay can end in.

    ``retryable`` says whether trying the same request again may succeed;
    ``attempts`` is how many requests were sent before the error was raised
    (set by the client once its retries are spent).
    """

    retryable: bool = False

    # How much of the message is kept (see shown).
    _limit = MAX_SERVER_TEXT

    def __init__(self, message: str, *, ipay_uuid: str | None = None) -> None:
        self.message = shown(message, self._limit)
        super().__init__(self.message)
        self.ipay_uuid = None if ipay_uuid is None else shown(ipay_uuid, 100)
        self.attempts: int = 1

    def __str__(self) -> str:
        text = self.message
        if self.ipay_uuid:
            text = f"[{self.ipay_uuid}] {text}"
        if self.attempts > 1:
            text = f"{text} (after {self.attempts} attempts)"
        return text


class ApiError(IpayError):
    """InstantPay answered, and the answer is a failure.

    ``statuscode`` is InstantPay's code (``IAC``, ``SPD``, ...) or ``None`` when
    the answer carried none (a bare HTTP error); ``status_message`` is
    InstantPay's human message; ``http_status`` the HTTP status of the answer.
    ``str()`` starts with the ``ipay_uuid`` InstantPay support asks for.
    """

    def __init__(
        self,
        status_message: str,
        *,
        statuscode: str | None = None,
        ipay_uuid: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.statuscode = None if statuscode is None else shown(statuscode, 40)
        self.status_message = shown(status_message)
        code = self.statuscode or (None if http_status is None else f"HTTP {http_status}")
        text = self.status_message if code is None else f"{code}: {self.status_message}"
        super().__init__(text, ipay_uuid=ipay_uuid)
        self.http_status = http_status
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(statuscode={self.statuscode!r}, "
            f"status_message={self.status_message!r}, ipay_uuid={self.ipay_uuid!r}, "
            f"http_status={self.http_status!r})"
        )


class AuthenticationError(ApiError):
    """The credentials or the account were refused (IAC, IAT, UAD, AAB, ...)."""


class RateLimitError(ApiError):
    """HTTP 429: too many requests. ``retry_after`` is the wait asked for, in seconds."""

    retryable = True


class ServiceUnavailableError(ApiError):
    """InstantPay or a gateway is down or failing (HTTP 5xx, 408; SPD, SPE, ISE, ...)."""

    retryable = True


class TransportError(IpayError):
    """The request or its answer was lost on the way: refused, reset, timed out, truncated."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ResponseFormatError(IpayError):
    """The answer is not what InstantPay documents: not JSON, a wrong shape, a missing field."""


class ConsistencyError(IpayError):
    """The data set changed faster than the walk could heal; resume from the checkpoint."""


class DatabaseError(IpayError):
    """The database mirror (``ipay_links.db``) refused or failed; InstantPay is not at fault.

    Its message names the database as :func:`ipay_links.db.sync` shows it: an SQLite
    file, or a PostgreSQL URL without its password (nor a secret option).
    """

    # Our own words around a few values, each already cut where it was put in (a link
    # id, the driver's one line) or ours (a path): the message is escaped, not cut.
    _limit = 1_000_000

    def __init__(self, message: str) -> None:
        super().__init__(message)


class SyncBusyError(DatabaseError):
    """Another sync is writing the same database; nothing was written."""


class NotSyncedError(DatabaseError):
    """The database holds no mirror yet: no sync wrote it (an SQLite file that does not
    exist is not created by reading it)."""


class SchemaError(DatabaseError):
    """The database's schema is not one this version writes: a newer ipay-links wrote it,
    or it was not made by ipay-links at all.

    ``found`` is the schema version the database holds, as text; ``supported`` the one
    this version writes.
    """

    def __init__(self, message: str, *, found: str, supported: int) -> None:
        super().__init__(message)
        self.found = shown(found, 40)
        self.supported = supported


class UnstorableLinkError(DatabaseError):
    """The database cannot store a link as InstantPay sent it.

    ``link_id`` is the link's id, ``field`` the column that cannot hold its value, and
    ``reason`` why (the message says all three). The pages before it are stored and the
    run is left ``failed``: the next sync goes on from there once the link has changed at
    the server, or into a database that can store it (SQLite stores every value).
    """

    def __init__(self, *, link_id: str, field: str, reason: str) -> None:
        super().__init__(f"link {shown(repr(link_id), 80)}: {field} {reason}")
        self.link_id = link_id
        self.field = field
        self.reason = reason


class DatabaseUnavailableError(DatabaseError):
    """The database could not be reached, or failed (refused a statement, ran out of
    space, went away). The message holds the driver's error in one line, never SQL nor a
    password; a sync cut short by it is resumed by the next one."""
