"""Where requests go and whom they trust: the proxy and the TLS context of a client.

Sans-I/O like ``protocol.py``: the environment is read here, once, when a client is made
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, in either case, as curl,
requests and httpx read them); the transport only uses what was decided.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import attrs

__all__ = ["Proxy", "check_ssl", "default_ssl_context", "parse_proxy", "proxy_from_env"]

_PROXY_SCHEMES = ("http", "https")


@attrs.frozen
class Proxy:
    """A forward proxy: its address without credentials, and the credentials apart.

    ``shown`` is the address to put in messages (``http://user:***@host:port``).
    """

    url: str
    user: str | None = None
    password: str | None = attrs.field(default=None, repr=False)

    @property
    def shown(self) -> str:
        if self.user is None:
            return self.url
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{self.user}:***@{rest}"


def parse_proxy(url: object, source: str = "proxy") -> Proxy:
    """Check a proxy URL (``http://[user:password@]host[:port]``) and split off its credentials.

    ``source`` names where it came from (the argument, or an environment variable) in the
    ``ValueError`` a bad one raises; the password never appears in it.
    """
    if not isinstance(url, str):
        raise TypeError(f"{source} must be a str, not {type(url).__name__}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{source} is not a URL: give http://host:port") from None
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        raise ValueError(f"{source} is a SOCKS proxy: only http:// proxies are supported")
    if scheme not in _PROXY_SCHEMES:
        raise ValueError(f"{source} must be an http://host:port (or https://) proxy URL")
    if not parts.hostname:
        raise ValueError(f"{source} names no host: give http://host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{source} must be http://host:port, with no path or query")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    address = f"{scheme}://{host}" + ("" if port is None else f":{port}")
    if parts.username is None:
        return Proxy(address)
    return Proxy(address, unquote(parts.username), unquote(parts.password or ""))


def proxy_from_env(base_url: str, environ: Mapping[str, str]) -> Proxy | None:
    """The proxy the environment asks for to reach ``base_url``, or ``None`` to go direct.

    ``https_proxy`` (or ``http_proxy`` for an http URL), else ``all_proxy``, in either case
    (lower case first, as curl reads them); none when ``no_proxy`` names the host (a list
    of hosts and domain suffixes, ``*`` for all).
    """
    variables = {name.lower(): value for name, value in environ.items() if value}
    # Lower case wins over upper case, as in urllib and curl.
    variables.update({name: value for name, value in environ.items() if name.islower() and value})
    if "REQUEST_METHOD" in environ and "http_proxy" not in environ:
        # Under CGI, HTTP_PROXY may come from a request's "Proxy:" header (httpoxy).
        variables.pop("http_proxy", None)
    scheme = urlsplit(base_url).scheme
    for name in (f"{scheme}_proxy", "all_proxy"):
        value = variables.get(name)
        if value:
            break
    else:
        return None
    host = urlsplit(base_url).hostname or ""
    if _bypassed(host, variables.get("no_proxy", "")):
        return None
    shown_name = name.upper() if name.upper() in environ else name
    return parse_proxy(value, f"the environment variable {shown_name}")


def _bypassed(host: str, no_proxy: str) -> bool:
    """True when ``no_proxy`` names ``host``: ``*``, or hosts and domains (``corp``, ``.corp``)."""
    host = host.lower().strip("[]").rstrip(".")
    for entry in no_proxy.lower().split(","):
        entry = entry.strip()
        if entry == "*":
            return True
        name = _without_port(entry).strip("[]").lstrip("*.").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _without_port(entry: str) -> str:
    """``host:port`` -> ``host``, ``[::1]:80`` -> ``[::1]``; a bare IPv6 address is kept."""
    if entry.startswith("["):
        return entry.split("]")[0] + "]"
    return entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry


def check_ssl(context: object) -> ssl.SSLContext | None:
    """``ssl=`` checked: ``None`` or an ``SSLContext`` that verifies certificates."""
    if context is None:
        return None
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(
            f"ssl must be an ssl.SSLContext or None, not {type(context).__name__}: "
            "certificate checking cannot be switched off"
        )
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        raise ValueError(
            "ssl must verify certificates (verify_mode=CERT_REQUIRED, check_hostname=True): "
            "certificate checking cannot be switched off"
        )
    return context


def default_ssl_context(trust_env: bool) -> ssl.SSLContext:
    """A context trusting the system's CAs.

    With ``trust_env``, ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as OpenSSL reads them; without
    it, only the locations OpenSSL was built with, whatever the environment says.
    """
    if trust_env:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    paths = ssl.get_default_verify_paths()
    # Either may be missing on a given system: load what is there.
    for location in ({"cafile": paths.openssl_cafile}, {"capath": paths.openssl_capath}):
        try:
            context.load_verify_locations(**location)
        except (FileNotFoundError, ssl.SSLError):
            continue
    return context
