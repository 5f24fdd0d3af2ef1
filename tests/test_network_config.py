"""Proxy and TLS settings, decided when a client is made: the pure part, without a network."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

import ipay_links as il
from ipay_links._io.network import Proxy, default_ssl_context, parse_proxy, proxy_from_env

CREDENTIALS = il.Credentials("id", "s3cret", "203.0.113.7")
API = "https://api.instantpay.in"


def test_a_proxy_url_keeps_its_credentials_apart() -> None:
    proxy = parse_proxy("http://ops%40corp:p%3Ass@proxy.corp:3128")
    assert proxy == Proxy("http://proxy.corp:3128", "ops@corp", "p:ss")
    assert proxy.shown == "http://ops@corp:***@proxy.corp:3128"
    assert "p:ss" not in repr(proxy)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("socks5://user:pw@h:1080", "only http:// proxies are supported"),
        ("proxy.corp:3128", "must be an http://host:port"),
        ("http://", "names no host"),
        ("http://user:pw@h:99999", "is not a URL"),
        ("http://user:pw@h:3128/path", "no path or query"),
    ],
)
def test_a_bad_proxy_url_is_refused_without_repeating_it(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        il.Client(CREDENTIALS, proxy=url)
    assert "pw" not in str(caught.value)


def test_the_environment_chooses_the_proxy_as_curl_does() -> None:
    env = {
        "HTTPS_PROXY": "http://upper:1",
        "https_proxy": "http://lower:2",
        "ALL_PROXY": "http://a:3",
    }
    assert proxy_from_env(API, env) == Proxy("http://lower:2")  # lower case first
    assert proxy_from_env(API, {"ALL_PROXY": "http://a:3"}) == Proxy("http://a:3")
    assert proxy_from_env(API, {"HTTP_PROXY": "http://h:4"}) is None  # not for https
    assert proxy_from_env("http://127.0.0.1:8080", {"HTTP_PROXY": "http://h:4"}) == Proxy(
        "http://h:4"
    )
    assert proxy_from_env(API, {}) is None


@pytest.mark.parametrize(
    "no_proxy", ["*", "instantpay.in", ".instantpay.in", "x.org, api.instantpay.in:443", "*.in"]
)
def test_no_proxy_names_hosts_and_domains(no_proxy: str) -> None:
    env = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": no_proxy}
    assert proxy_from_env(API, env) is None


def test_no_proxy_matches_whole_labels_only() -> None:
    env = {"HTTPS_PROXY": "http://p:1", "no_proxy": "pay.in,localhost"}
    assert proxy_from_env(API, env) == Proxy("http://p:1")  # instantpay.in is not *.pay.in


def test_a_bad_proxy_in_the_environment_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5h://user:pw@proxy:1080")
    for name in ("HTTPS_PROXY", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="environment variable ALL_PROXY is a SOCKS") as caught:
        il.Client(CREDENTIALS)
    assert "pw" not in str(caught.value)
    # trust_env=False, or a proxy of one's own, leaves the environment alone.
    il.Client(CREDENTIALS, trust_env=False)
    il.Client(CREDENTIALS, proxy="http://proxy:3128")


def test_certificate_checking_cannot_be_switched_off() -> None:
    with pytest.raises(TypeError, match="cannot be switched off"):
        il.Client(CREDENTIALS, ssl=False)  # type: ignore[arg-type]
    lax = ssl.create_default_context()
    lax.check_hostname = False
    with pytest.raises(ValueError, match="cannot be switched off"):
        il.Client(CREDENTIALS, ssl=lax)
    lax.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError, match="cannot be switched off"):
        il.Client(CREDENTIALS, ssl=lax)


def test_the_pool_size_is_checked_and_belongs_to_the_clients_own_session() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        il.Client(CREDENTIALS, max_connections=0)
    with pytest.raises(ValueError, match="your session's connector"):
        il.Client(CREDENTIALS, session=object(), max_connections=10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trust_env"):
        il.Client(CREDENTIALS, trust_env="no")  # type: ignore[arg-type]


def test_without_trust_env_ssl_cert_file_is_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "none.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    # OpenSSL reads the variables: the trusting context has no CA at all...
    assert default_ssl_context(trust_env=True).cert_store_stats()["x509_ca"] == 0
    # ...the other one still has the system's (this machine has some).
    assert default_ssl_context(trust_env=False).cert_store_stats()["x509_ca"] > 0
