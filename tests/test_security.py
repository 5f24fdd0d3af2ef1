"""The secret never shows and never travels anywhere but to InstantPay's origin."""

from __future__ import annotations

import logging
import socket
import traceback
from typing import Any

import pytest

import ipay_links as il
from ipay_links.testing import Fault, Simulator

SECRET = "Zq7-SECRET-5f926b8d0240a8c0d287"
CREDS = il.Credentials("leak-test-client", SECRET, "125.0.0.1")
POLICY = il.RetryPolicy(max_tries=2, max_time=5.0, base_delay=0.001, max_delay=0.002)

CATALOGUE = [
    Fault.status(503),
    Fault.status(400, "bad"),
    Fault.html(502),
    Fault.envelope("IAC", "Invalid dealer credentials"),
    Fault.envelope("SPD", "down"),
    Fault.envelope("RPI", "bad request"),
    Fault.rate_limit("0"),
    Fault.truncate(),
    Fault.reset(),
    Fault.hang(5.0),
    Fault.garbage(),
    Fault.redirect("https://evil.example/steal"),
    Fault.oversized(50_000),
    Fault.oversized(50_000, chunked=True),
]


def everything_about(error: BaseException) -> str:
    """Every text an error can show: messages, reprs, args, attributes, the whole chain."""
    texts = []
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        stack += [current.__cause__, current.__context__]
    formatted = traceback.TracebackException.from_exception(error, capture_locals=True)
    texts += list(formatted.format(chain=True))
    return "\n".join(texts)


def caught(errors: list[BaseException], call: Any) -> Any:
    async def run() -> None:
        try:
            await call()
        except il.IpayError as exc:
            errors.append(exc)

    return run()


@pytest.mark.parametrize("fault", CATALOGUE, ids=lambda fault: fault.kind)
async def test_the_secret_shows_nowhere_across_the_fault_catalogue(
    fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, backoff's, aiohttp's, asyncio's
    simulator = Simulator(12, credentials=CREDS)
    simulator.inject(fault, times=4)  # two tries; a reset costs two requests a try
    errors: list[BaseException] = []
    async with (
        simulator.serve() as url,
        il.Client(
            CREDS, base_url=url, retry=POLICY, read_timeout=0.1, max_response_size=20_000
        ) as client,
    ):
        await caught(errors, lambda: client.fetch_page(per_page=5))
        assert SECRET not in repr(client)
    (error,) = errors
    assert SECRET not in everything_about(error)
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in repr(record.args) and SECRET not in str(record.msg)
    # The secret did reach the simulator: the check above is not vacuous.
    assert simulator.requests[0].headers["X-Ipay-Client-Secret"] == SECRET


async def test_the_secret_shows_nowhere_when_the_connection_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    errors: list[BaseException] = []
    async with il.Client(CREDS, base_url=f"http://127.0.0.1:{port}", retry=POLICY) as client:
        await caught(errors, lambda: client.fetch_page())
    (error,) = errors
    assert isinstance(error, il.TransportError)
    assert SECRET not in everything_about(error)
    assert SECRET not in caplog.text


async def test_transport_errors_keep_no_aiohttp_object_reachable() -> None:
    simulator = Simulator(5, credentials=CREDS)
    simulator.inject(Fault.truncate(), times=2)
    async with simulator.serve() as url, il.Client(CREDS, base_url=url, retry=POLICY) as client:
        with pytest.raises(il.TransportError) as caught_error:
            await client.fetch_page()
    assert caught_error.value.__cause__ is None
    assert caught_error.value.__context__ is None


async def test_a_redirect_is_never_followed_and_the_secret_reaches_no_other_host() -> None:
    evil = Simulator(5, credentials=CREDS)
    simulator = Simulator(5, credentials=CREDS)
    async with evil.serve() as evil_url, simulator.serve() as url:
        for status in (301, 302, 303, 307, 308):
            simulator.inject(Fault.redirect(f"{evil_url}/payments/payout/link/list", status))
        async with il.Client(CREDS, base_url=url, retry=POLICY) as client:
            for status in (301, 302, 303, 307, 308):
                with pytest.raises(il.ApiError, match="redirect") as caught_error:
                    await client.fetch_page()
                assert caught_error.value.http_status == status
    assert evil.requests == []
    assert len(simulator.requests) == 5


def test_a_links_repr_hides_the_contacts_personal_data() -> None:
    from decimal import Decimal

    from ipay_links._core.plain import to_plain

    contact = il.ContactDetails(name="Ravi Kumar", email="ravi@example.com", mobile="9876545742")
    link = il.PayoutLink(
        "657aa9841b8d3897ff0a84fb", "ISSUED", Decimal("1.5"), contact_details=contact
    )
    shown = repr(link)
    for secret in ("Ravi", "Kumar", "ravi@example.com", "98765"):
        assert secret not in shown
    assert "ContactDetails(name='R***', email='***', mobile='******5742')" in shown
    assert repr(il.ContactDetails()) == "ContactDetails(name=None, email=None, mobile=None)"
    # The values stay where they are used: on the attributes and in every export.
    assert contact.name == "Ravi Kumar"
    assert to_plain(link)["contact_details"] == {
        "name": "Ravi Kumar",
        "email": "ravi@example.com",
        "mobile": "9876545742",
    }


FORGED = "\n2026-12-01 10:00:00 INFO all good\x1b[2J\x1b[31m"


async def test_a_server_echoing_the_secret_gets_it_shown_as_stars_and_its_text_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    simulator = Simulator(12, credentials=CREDS)
    echo = f"headers were X-Ipay-Client-Secret: {SECRET}{FORGED}"
    simulator.inject(Fault.envelope("SPD", echo), times=2)  # retried once, then raised
    async with simulator.serve() as url, il.Client(CREDS, base_url=url, retry=POLICY) as client:
        with pytest.raises(il.ServiceUnavailableError) as caught_error:
            await client.fetch_page()
    error = caught_error.value
    for text in (str(error), repr(error), repr(error.args), repr(vars(error))):
        assert SECRET not in text
        assert "\n" not in text and "\x1b" not in text
    assert "X-Ipay-Client-Secret: ***\\n2026-12-01" in error.status_message
    assert "\\x1b[2J" in str(error)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    for line in caplog.text.splitlines():  # no forged line: the server's newline is escaped
        assert not line.startswith("2026-12-01 10:00:00 INFO")
    assert SECRET not in caplog.text and "\x1b" not in caplog.text


async def test_long_server_text_is_cut_to_a_few_hundred_characters() -> None:
    simulator = Simulator(12, credentials=CREDS)
    simulator.inject(Fault.envelope("RPI", "x" * 10_000))
    async with simulator.serve() as url, il.Client(CREDS, base_url=url, retry=POLICY) as client:
        with pytest.raises(il.ApiError) as caught_error:
            await client.fetch_page()
    assert len(str(caught_error.value)) < 500
    assert "9700 more characters" in caught_error.value.status_message


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{SECRET}@api.instantpay.in",
        f"http://user:{SECRET}@127.0.0.1:8080",
        f"ftp://user:{SECRET}@api.instantpay.in",
        f"ftp://api.instantpay.in/{SECRET}",
        f"http://api.instantpay.in/{SECRET}",
    ],
)
def test_a_base_url_is_refused_without_repeating_what_it_carries(url: str) -> None:
    with pytest.raises(ValueError, match="base_url") as caught_error:
        il.Client(CREDS, base_url=url)
    assert SECRET not in str(caught_error.value)
    if url.startswith("ftp"):
        assert "ftp://" in str(caught_error.value)  # it names the scheme, only


@pytest.mark.parametrize(
    "secret", ["tab\tsecret-9", "päss-wörd-secret", "k9\x1bZz-secret", "q'\"\\-s"]
)
def test_a_secret_is_hidden_also_as_escaping_would_show_it(secret: str) -> None:
    from ipay_links.errors import hiding

    echoes = [secret, repr(secret), repr(secret.encode()), secret.encode("unicode_escape").decode()]
    with hiding(secret):
        error = il.ApiError(" / ".join(echoes), statuscode="RPI", http_status=400)
    for text in (str(error), repr(error), repr(error.args), repr(vars(error))):
        assert secret not in text
        for echo in echoes:
            assert echo.strip("'\"b") not in text
    assert error.status_message.count("***") == len(echoes)


def test_an_error_without_a_status_or_a_code_says_no_http_none() -> None:
    error = il.RateLimitError("the walk is held back 9.0 s", retry_after=9.0)
    assert str(error) == "the walk is held back 9.0 s"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://api.instantpay.in?", "query or a fragment"),
        ("https://api.instantpay.in#", "query or a fragment"),
        ("https://api.instantpay.in:99999", "host or port"),
        ("https://api.instantpay.in:443:80", "host or port"),
        ("https://api.insta\x00ntpay.in", "control characters"),
        ("https://api.instantpay.in /x", "white space"),
        ("https://ex\u2028ample.com", "not a valid host name"),
    ],
)
def test_a_base_url_that_would_send_requests_elsewhere_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught_error:
        il.Client(CREDS, base_url=url)
    assert "instantpay" not in str(caught_error.value)  # the URL itself is never repeated
