"""InstantPay credentials: validated once, and never shown."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping

import attrs

__all__ = ["Credentials", "check_endpoint_ip"]

# Control characters: CR and LF would split a header, and aiohttp refuses the rest
# (all below 0x20 but the tab, and DEL) only when sending.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
ENV_VARIABLES = {
    "client_id": "IPAY_CLIENT_ID",
    "client_secret": "IPAY_CLIENT_SECRET",
    "endpoint_ip": "IPAY_ENDPOINT_IP",
}


def _header_safe(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    # The value is never echoed: it may be the secret.
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{attribute.name} is empty")
    if _FORBIDDEN.search(value):
        raise ValueError(f"{attribute.name} contains a control character (CR, LF, NUL, ...)")
    if value != value.strip():
        # Servers strip header values: the value sent would not be the one given.
        raise ValueError(f"{attribute.name} has leading or trailing white space")


def _ip_address(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        # Not echoed: a secret passed in the wrong place must not show.
        raise ValueError("endpoint_ip is not an IPv4 or IPv6 address") from None


def check_endpoint_ip(value: object) -> str:
    """Return ``value`` if it is an IP address fit for ``X-Ipay-Endpoint-Ip``, else raise."""
    field = attrs.fields(Credentials).endpoint_ip
    for check in (_header_safe, _ip_address):
        check(None, field, value)  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


def _masked(value: str) -> str:
    return value[:4] + "…" if len(value) > 8 else "…"


@attrs.frozen(repr=False)
class Credentials:
    """The four ``X-Ipay-*`` header values InstantPay asks for on every call.

    - ``client_id``, ``client_secret``: as InstantPay issued them (``X-Ipay-Client-Id``,
      ``X-Ipay-Client-Secret``).
    - ``endpoint_ip``: the end customer's IP address, IPv4 or IPv6
      (``X-Ipay-Endpoint-Ip``); a call can give another one for itself.
    - ``auth_code="1"``: ``X-Ipay-Auth-Code``, documented as always ``"1"``.

    Raises ``TypeError`` for a value that is not a ``str``, and ``ValueError`` for one
    that is empty, holds a control character (CR, LF, NUL, ...) or leading or trailing
    white space, or for an ``endpoint_ip`` that is not an IP address. No message
    repeats the value, and the secret appears in no ``repr()`` or ``str()``.
    """

    client_id: str = attrs.field(validator=_header_safe)
    client_secret: str = attrs.field(validator=_header_safe)
    endpoint_ip: str = attrs.field(validator=[_header_safe, _ip_address])
    auth_code: str = attrs.field(default="1", validator=_header_safe)

    def __repr__(self) -> str:
        return (
            f"Credentials(client_id={_masked(self.client_id)!r}, client_secret='***', "
            f"endpoint_ip={self.endpoint_ip!r}, auth_code={self.auth_code!r})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read credentials from the environment, or from ``environ`` when given.

        ``IPAY_CLIENT_ID``, ``IPAY_CLIENT_SECRET`` and ``IPAY_ENDPOINT_IP`` are required,
        ``IPAY_AUTH_CODE`` is optional (``"1"``). ``environ=None`` reads ``os.environ``;
        any mapping of names to values can stand in for it.

        Raises ``ValueError`` naming every required variable that is unset or empty, or
        for a value :class:`Credentials` refuses.
        """
        env = os.environ if environ is None else environ
        missing = [name for name in ENV_VARIABLES.values() if not env.get(name)]
        if missing:
            raise ValueError(f"missing environment variable(s): {', '.join(missing)}")
        values = {field: env[name] for field, name in ENV_VARIABLES.items()}
        return cls(**values, auth_code=env.get("IPAY_AUTH_CODE") or "1")
