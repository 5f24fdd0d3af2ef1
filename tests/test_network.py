"""Through real infrastructure: nginx terminating TLS in front of the simulator, tinyproxy.

Every server is started by the test on a loopback port and stopped after (``_infra.py``);
certificates come from a test CA made with trustme. Each test asserts on what the servers
saw (nginx's access log, tinyproxy's CONNECT lines, the simulator's requests), so a client
that went around the proxy, or an answer that came uncompressed, fails it.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import os
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import trustme

import ipay_links as il
from ipay_links._core import protocol
from ipay_links.testing import Simulator

from ._infra import LocalCA, Nginx, Tinyproxy, free_port, nginx, tinyproxy
from .conftest import FAST_RETRY

# What the client may read from the environment: cleared for every test, set by some.
ENVIRONMENT = [
    name
    for base in ("https_proxy", "http_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
] + ["SSL_CERT_FILE", "SSL_CERT_DIR"]

PROXY_USER, PROXY_PASSWORD = "walker", "secretpw-41c7"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA of the machine's (a CI runner may set them) reaches these tests."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA.make(tmp_path_factory.mktemp("ca"))


def ids(sim: Simulator) -> list[str]:
    return [link["linkId"] for link in sim.links]


def target(url: str) -> str:
    """The ``host:port`` a proxy is asked to CONNECT to for ``url``."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def client_of(sim: Simulator, url: str, pki: LocalCA, **options: Any) -> il.Client:
    """A client with ``sim``'s credentials for ``url``, trusting the test CA, retrying fast.

    ``options`` are any other arguments of :class:`il.Client`, ``ssl=None`` among them.
    """
    options.setdefault("ssl", pki.client_context())
    options.setdefault("retry", FAST_RETRY)
    return il.Client(sim.credentials, base_url=url, **options)


async def walk(client: il.Client, per_page: int, concurrency: int = 1) -> list[str]:
    links = client.iter_links(per_page=per_page, concurrency=concurrency)
    return [link.link_id async for link in links]


# -- nginx in front of the simulator ----------------------------------------------------


def proxied_to(upstream: str) -> str:
    """A location passing every request to ``upstream``, on kept-alive connections."""
    return f"""
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}"""


@asynccontextmanager
async def behind_nginx(
    sim: Simulator,
    directory: Path,
    cert: trustme.LeafCert,
    *,
    rules: str = "",
    http: str = "",
) -> AsyncIterator[Nginx]:
    """``sim`` served on a loopback port, behind nginx terminating TLS with ``cert``.

    ``rules`` go into nginx's server block, ``http`` into its http block.
    """
    async with sim.serve() as upstream:
        server = f"{rules}\n{proxied_to(upstream)}"
        with nginx(directory, server, http=http, cert=cert) as front:
            yield front


async def test_a_walk_through_nginx_terminating_tls_returns_every_link_exactly(
    pki: LocalCA, tmp_path: Path
) -> None:
    sim = Simulator(230, seed=5)
    async with behind_nginx(sim, tmp_path, pki.cert) as front:
        async with client_of(sim, front.url, pki) as client:
            got = await walk(client, per_page=25, concurrency=4)
        statuses = front.wait_for_requests(sim.request_count)
    assert got == ids(sim)
    assert statuses == [200] * 10 and sim.request_count == 10  # each page once, via nginx


@pytest.mark.parametrize(
    ("names", "expired", "host", "trusted", "reason"),
    [
        (("localhost", "127.0.0.1"), False, "127.0.0.1", False, "unable to get local issuer"),
        (("other.example",), False, "localhost", True, "Hostname mismatch"),
        (("other.example",), False, "127.0.0.1", True, "IP address mismatch"),
        (("localhost", "127.0.0.1"), True, "127.0.0.1", True, "certificate has expired"),
    ],
    ids=["untrusted-ca", "other-hostname", "other-ip", "expired"],
)
async def test_a_certificate_that_fails_verification_is_a_final_transport_error(
    pki: LocalCA,
    tmp_path: Path,
    names: tuple[str, ...],
    expired: bool,
    host: str,
    trusted: bool,
    reason: str,
) -> None:
    sim = Simulator(5)
    async with behind_nginx(sim, tmp_path, pki.issue(*names, expired=expired)) as front:
        url = f"https://{host}:{front.port}"
        context = pki.client_context() if trusted else None
        async with client_of(sim, url, pki, ssl=context, trust_env=False) as client:
            with pytest.raises(il.TransportError) as caught:
                await client.fetch_page()
    error = caught.value
    assert f"certificate verify failed: {reason}" in str(error)
    assert error.retryable is False and error.attempts == 1
    assert front.statuses() == [] and sim.request_count == 0  # no request was sent


async def test_ssl_cert_file_is_trusted_unless_trust_env_is_false(
    pki: LocalCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.pem))
    sim = Simulator(5)
    async with behind_nginx(sim, tmp_path, pki.cert) as front:
        async with client_of(sim, front.url, pki, ssl=None) as client:
            page = await client.fetch_page(per_page=5)
        async with client_of(sim, front.url, pki, ssl=None, trust_env=False) as ignoring:
            with pytest.raises(il.TransportError, match="certificate verify failed"):
                await ignoring.fetch_page(per_page=5)
    assert [link.link_id for link in page.records] == ids(sim)
    assert sim.request_count == 1


GZIP = "gzip on; gzip_types application/json; gzip_min_length 0; gzip_proxied any;"


async def raw_first_page(front: Nginx, sim: Simulator, pki: LocalCA) -> tuple[str, bytes]:
    """Page 1 of 100 links as nginx sends it: its Content-Encoding and its bytes as sent."""
    request = protocol.build_request(sim.credentials, protocol.make_query(per_page=100), 1)
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(
            front.url + request.path,
            headers={**request.headers, "Accept-Encoding": "gzip"},
            data=request.body,
            ssl=pki.client_context(),
        ) as response,
    ):
        assert response.status == 200
        return response.headers.get("Content-Encoding", ""), await response.read()


async def test_gzip_from_nginx_is_decoded_and_bounded_by_its_decoded_size(
    pki: LocalCA, tmp_path: Path
) -> None:
    sim = Simulator(100, seed=3)
    async with behind_nginx(sim, tmp_path, pki.cert, rules=GZIP) as front:
        encoding, wire = await raw_first_page(front, sim, pki)
        decoded = gzip.decompress(wire)
        async with client_of(sim, front.url, pki) as client:
            page = await client.fetch_page(per_page=100)
        # Larger than the bytes on the wire, smaller than the page once decoded.
        limit = (len(wire) + len(decoded)) // 2
        async with client_of(sim, front.url, pki, max_response_size=limit) as small:
            with pytest.raises(il.ResponseFormatError, match="larger than max_response_size"):
                await small.fetch_page(per_page=100)
        front.wait_for_requests(3)
    assert encoding == "gzip" and len(wire) < limit < len(decoded)
    assert json.loads(decoded)["data"]["meta"]["totalRecords"] == 100
    assert [link.link_id for link in page.records] == ids(sim)
    # The client's own two requests were answered compressed: nginx logs a ratio, not "-".
    entries = front.entries()
    assert [status for status, _ in entries] == [200, 200, 200]
    assert all(ratio != "-" for _, ratio in entries)


LIMITED = """
    limit_req_zone $binary_remote_addr zone=pages:1m rate=10r/s;
    map $status $retry_after { 429 1; default ""; }
"""


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, True), (503, False)], ids=["429-retry-after", "503-bare"]
)
async def test_a_concurrent_walk_through_limit_req_gets_every_link_once(
    pki: LocalCA, tmp_path: Path, status: int, retry_after: bool
) -> None:
    sim = Simulator(1500, seed=21)
    rules = f"limit_req zone=pages burst=2 nodelay; limit_req_status {status};"
    if retry_after:
        rules += " add_header Retry-After $retry_after always;"  # only on a 429: "" adds none
    policy = il.RetryPolicy()  # the default: five tries a page, of which waits spend none
    async with behind_nginx(sim, tmp_path, pki.cert, rules=rules, http=LIMITED) as front:
        async with client_of(sim, front.url, pki, retry=policy) as client:
            got = await walk(client, per_page=100, concurrency=8)
        # Each refusal was logged before its page was asked for again (one worker).
        statuses = front.wait_for_requests(sim.request_count, status=200)
    assert got == ids(sim)  # 15 pages: every link once, in order
    assert statuses.count(200) == 15 == sim.request_count  # nginx's refusals never reached it
    assert set(statuses) == {200, status}  # nginx did push back: the walk was tested


async def test_an_upstream_that_is_down_is_a_retried_502(pki: LocalCA, tmp_path: Path) -> None:
    sim = Simulator(5)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with nginx(tmp_path, proxied_to(closed), cert=pki.cert) as front:
        async with client_of(sim, front.url, pki) as client:
            with pytest.raises(il.ServiceUnavailableError) as caught:
                await client.fetch_page()
        statuses = front.wait_for_requests(caught.value.attempts)
    error = caught.value
    assert error.http_status == 502 and error.retryable
    assert error.attempts == 3 and statuses == [502, 502, 502]


async def test_an_upstream_slower_than_proxy_read_timeout_is_a_retried_504(
    pki: LocalCA, tmp_path: Path
) -> None:
    sim = Simulator(5, latency=30.0)  # never in time; its handlers end with the server
    rules = "proxy_read_timeout 250ms;"
    async with behind_nginx(sim, tmp_path, pki.cert, rules=rules) as front:
        async with client_of(sim, front.url, pki) as client:
            with pytest.raises(il.ServiceUnavailableError) as caught:
                await client.fetch_page()
        statuses = front.wait_for_requests(caught.value.attempts)
    error = caught.value
    assert error.http_status == 504 and error.retryable
    assert error.attempts == 3 and statuses == [504, 504, 504]
    assert sim.request_count == 3  # each attempt reached the simulator, which was too slow


# -- tinyproxy: CONNECT to the simulator over TLS ---------------------------------------


@pytest.fixture
def tls_sim() -> Simulator:
    return Simulator(40, seed=8)


@pytest.fixture
async def tls_url(tls_sim: Simulator, pki: LocalCA) -> AsyncIterator[str]:
    async with tls_sim.serve(ssl_context=pki.server_context()) as url:
        yield url


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    with tinyproxy(tmp_path) as running:
        yield running


async def test_a_walk_goes_through_the_proxy_given(
    tls_sim: Simulator, tls_url: str, pki: LocalCA, proxy: Tinyproxy
) -> None:
    async with client_of(tls_sim, tls_url, pki, proxy=proxy.url) as client:
        got = await walk(client, per_page=10)
    assert got == ids(tls_sim)
    connects = proxy.connects()
    assert connects and set(connects) == {target(tls_url)}  # every connection a tunnel


@pytest.mark.parametrize(
    ("variable", "through"),
    [("HTTPS_PROXY", True), ("https_proxy", True), ("ALL_PROXY", True), ("HTTP_PROXY", False)],
)
async def test_the_proxy_of_the_environment_is_used_for_https(
    tls_sim: Simulator,
    tls_url: str,
    pki: LocalCA,
    proxy: Tinyproxy,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    through: bool,
) -> None:
    monkeypatch.setenv(variable, proxy.url)
    async with client_of(tls_sim, tls_url, pki) as client:
        page = await client.fetch_page(per_page=5)
    assert [link.link_id for link in page.records] == ids(tls_sim)[:5]
    # HTTP_PROXY is for http:// URLs only, as curl reads it.
    assert proxy.connects() == ([target(tls_url)] if through else [])


@pytest.mark.parametrize(
    ("no_proxy", "trust_env"),
    [(None, False), ("127.0.0.1,localhost", True), ("*", True)],
    ids=["trust_env-false", "no_proxy-hosts", "no_proxy-star"],
)
async def test_the_proxy_of_the_environment_is_bypassed_when_told(
    tls_sim: Simulator,
    tls_url: str,
    pki: LocalCA,
    proxy: Tinyproxy,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str | None,
    trust_env: bool,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    if no_proxy is not None:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    async with client_of(tls_sim, tls_url, pki, trust_env=trust_env) as client:
        page = await client.fetch_page(per_page=5)
    assert len(page.records) == 5 and tls_sim.request_count == 1
    assert proxy.connects() == []  # straight to the simulator


async def test_the_proxy_argument_wins_over_the_environment(
    tls_sim: Simulator,
    tls_url: str,
    pki: LocalCA,
    proxy: Tinyproxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing there
    async with client_of(tls_sim, tls_url, pki, proxy=proxy.url, retry=None) as client:
        page = await client.fetch_page(per_page=5)
    assert len(page.records) == 5
    assert proxy.connects() == [target(tls_url)]


async def test_max_connections_bounds_the_tunnels_of_a_concurrent_walk(
    tls_sim: Simulator, tls_url: str, pki: LocalCA, proxy: Tinyproxy
) -> None:
    tls_sim.latency = 0.02  # pages overlap: eight at once without the bound
    options: dict[str, Any] = {"proxy": proxy.url, "max_connections": 2}
    async with client_of(tls_sim, tls_url, pki, **options) as client:
        got = await walk(client, per_page=4, concurrency=8)
    assert got == ids(tls_sim)
    assert tls_sim.max_in_flight <= 2  # one request per tunnel at a time
    assert 1 <= len(proxy.connects()) <= 2  # and the tunnels were kept for the next pages


# -- tinyproxy asking for credentials, refusing, or absent ------------------------------


@pytest.fixture
def auth_proxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    with tinyproxy(tmp_path, basic_auth=(PROXY_USER, PROXY_PASSWORD)) as running:
        yield running


def with_credentials(proxy: Tinyproxy, password: str) -> str:
    return f"http://{PROXY_USER}:{password}@127.0.0.1:{proxy.port}"


async def test_proxy_credentials_in_the_url_open_the_tunnel_and_stay_hidden(
    tls_sim: Simulator,
    tls_url: str,
    pki: LocalCA,
    auth_proxy: Tinyproxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = with_credentials(auth_proxy, PROXY_PASSWORD)
    async with client_of(tls_sim, tls_url, pki, proxy=url) as client:
        page = await client.fetch_page(per_page=5)
        shown = repr(client)
    assert len(page.records) == 5
    assert auth_proxy.connects() == [target(tls_url)]
    assert PROXY_PASSWORD not in shown and PROXY_PASSWORD not in caplog.text


def assert_hidden(error: BaseException, logged: str, secrets: list[str]) -> None:
    """No secret, nor its Basic-auth form, in the error, its traceback or the log."""
    texts = [str(error), repr(error), "".join(traceback.format_exception(error)), logged]
    for secret in secrets:
        basic = base64.b64encode(f"{PROXY_USER}:{secret}".encode()).decode()
        for form in (secret, basic):
            assert not any(form in text for text in texts), form


@pytest.mark.parametrize(
    ("password", "status"),
    # tinyproxy answers a CONNECT without credentials with 407, one with wrong ones with 401.
    [(None, "407"), ("wrongpw-93b1", "401")],
    ids=["no-credentials", "wrong-password"],
)
async def test_a_proxy_refusing_the_credentials_is_final_and_shows_no_password(
    tls_sim: Simulator,
    tls_url: str,
    pki: LocalCA,
    auth_proxy: Tinyproxy,
    caplog: pytest.LogCaptureFixture,
    password: str | None,
    status: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = auth_proxy.url if password is None else with_credentials(auth_proxy, password)
    async with client_of(tls_sim, tls_url, pki, proxy=url) as client:
        with pytest.raises(il.TransportError) as caught:
            await client.fetch_page()
    error = caught.value
    assert error.retryable is False and error.attempts == 1 and status in str(error)
    assert auth_proxy.connects() == [target(tls_url)] and tls_sim.request_count == 0
    assert_hidden(error, caplog.text, [PROXY_PASSWORD] + ([password] if password else []))


async def test_a_proxy_refusing_connect_to_the_port_is_final(
    tls_sim: Simulator, tls_url: str, pki: LocalCA, tmp_path: Path
) -> None:
    with tinyproxy(tmp_path, connect_ports=(443,)) as strict:
        async with client_of(tls_sim, tls_url, pki, proxy=strict.url) as client:
            with pytest.raises(il.TransportError) as caught:
                await client.fetch_page()
        connects = strict.connects()
    error = caught.value
    assert error.retryable is False and error.attempts == 1 and "403" in str(error)
    assert connects == [target(tls_url)] and tls_sim.request_count == 0


async def test_a_proxy_that_cannot_be_reached_is_retried(
    tls_sim: Simulator, tls_url: str, pki: LocalCA
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with client_of(tls_sim, tls_url, pki, proxy=closed) as client:
        with pytest.raises(il.TransportError) as caught:
            await client.fetch_page()
    assert caught.value.retryable is True and caught.value.attempts == 3
    assert tls_sim.request_count == 0


# -- the command line through the proxy -------------------------------------------------


async def run_cli(sim: Simulator, *argv: str) -> tuple[int, str, str]:
    """``python -m ipay_links ARGV`` with ``sim``'s credentials in its environment."""
    creds = sim.credentials
    env = {
        **os.environ,
        "IPAY_CLIENT_ID": creds.client_id,
        "IPAY_CLIENT_SECRET": creds.client_secret,
        "IPAY_ENDPOINT_IP": creds.endpoint_ip,
        "IPAY_AUTH_CODE": creds.auth_code,
    }
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "ipay_links", *argv],
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_checks_through_an_authenticating_proxy_with_a_ca_bundle(
    tls_sim: Simulator, tls_url: str, pki: LocalCA, auth_proxy: Tinyproxy
) -> None:
    proxy_url = with_credentials(auth_proxy, PROXY_PASSWORD)
    argv = ["check", "--base-url", tls_url, "--proxy", proxy_url]
    code, out, err = await run_cli(tls_sim, *argv, "--ca-bundle", str(pki.pem))
    assert code == 0, err
    assert "credentials:  accepted" in out
    assert auth_proxy.connects() == [target(tls_url)]
    # Without the bundle the simulator's certificate is trusted by nothing: exit 4.
    code, out2, err2 = await run_cli(tls_sim, *argv)
    assert code == 4 and "certificate verify failed" in err2
    assert PROXY_PASSWORD not in out + err + out2 + err2
    assert tls_sim.request_count == 1
