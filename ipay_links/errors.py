"""The exception tree of ipay_links.

Everything the library raises for a failed call is an :class:`IpayError`.
Programmer mistakes (bad arguments, a closed client) are plain ``ValueError``,
``TypeError`` or ``RuntimeError`` instead, raised before any request is sent.

No error carries a header, the client secret or an aiohttp object: errors are
built from message text only, so they are safe to log and to send to support.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ConsistencyError",
    "IpayError",
    "RateLimitError",
    "ResponseFormatError",
    "ServiceUnavailableError",
    "TransportError",
]


class IpayError(Exception):
    """Root of every error a call to InstantPay can end in.

    ``retryable`` says whether trying the same request again may succeed;
    ``attempts`` is how many requests were sent before the error was raised
    (set by the client once its retries are spent).
    """

    retryable: bool = False

    def __init__(self, message: str, *, ipay_uuid: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ipay_uuid = ipay_uuid
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
        code = statuscode or f"HTTP {http_status}"
        super().__init__(f"{code}: {status_message}", ipay_uuid=ipay_uuid)
        self.statuscode = statuscode
        self.status_message = status_message
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
