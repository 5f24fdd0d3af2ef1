"""Wire tests: a real Client against the simulator on a loopback port."""

from __future__ import annotations

import asyncio
import gc
import json
from decimal import Decimal

import aiohttp
import pytest

import ipay_links as il
from ipay_links.testing import Fault, Simulator

from .conftest import FAST_RETRY


async def test_fetch_page_sends_the_documented_request(
    client: il.Client, simulator: Simulator
) -> None:
    await client.fetch_page(2, per_page=5, status=["ISSUED", "CLAIMED"], contact="x@example.in")
    (seen,) = simulator.requests
    assert seen.method == "GET"
    assert seen.path == "/payments/payout/link/list"
    assert seen.headers["X-Ipay-Auth-Code"] == "1"
    assert seen.headers["X-Ipay-Client-Id"] == simulator.credentials.client_id
    assert seen.headers["X-Ipay-Client-Secret"] == simulator.credentials.client_secret
    assert seen.headers["X-Ipay-Endpoint-Ip"] == "127.0.0.1"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.raw_body) == {
        "filters": {"status": ["ISSUED", "CLAIMED"], "contact": "x@example.in"},
        "pagination": {"pageNumber": "2", "recordsPerPage": "5"},
    }


async def test_fetch_page_returns_typed_links_equal_to_the_data_set(
    client: il.Client, simulator: Simulator
) -> None:
    page = await client.fetch_page(1, per_page=20)
    assert page.meta.total_records == 57
    assert page.meta.total_pages == 3
    assert page.environment == "SANDBOX"
    assert page.ipay_uuid and page.ipay_uuid.startswith("h0009")
    for link, wire in zip(page.records, simulator.links[:20], strict=True):
        assert link.link_id == wire["linkId"]
        assert link.amount == Decimal(str(wire["amount"]))
        assert link.status == wire["status"]
        assert link.contact_details is not None
        assert link.contact_details.mobile == wire["contactDetails"]["mobile"]


async def test_wrong_credentials_get_a_typed_iac_error(simulator: Simulator, base_url: str) -> None:
    wrong = il.Credentials("simulator-client-id", "not-the-secret", "127.0.0.1")
    async with il.Client(wrong, base_url=base_url, retry=FAST_RETRY) as client:
        with pytest.raises(il.AuthenticationError) as caught:
            await client.fetch_page()
    assert caught.value.statuscode == "IAC"
    assert caught.value.http_status == 200
    assert caught.value.ipay_uuid
    assert len(simulator.requests) == 1  # a permanent error is not retried
    assert "not-the-secret" not in str(caught.value) + repr(caught.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.fetch_page(0), "page must be at least 1"),
        (lambda c: c.fetch_page(per_page=0), "per_page must be at least 1"),
        (lambda c: c.fetch_page(per_page=5000), "per_page must be at most"),
        (lambda c: c.fetch_page(status="PAID"), "unknown status 'PAID'"),
        (lambda c: c.fetch_page(contact=""), "contact is empty"),
    ],
)
async def test_bad_input_is_refused_before_any_request(
    client: il.Client, simulator: Simulator, call: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await call(client)  # type: ignore[operator]
    assert simulator.requests == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_page": 0}, "page must be at least 1"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"max_items": 0}, "max_items must be at least 1"),
        ({"status": ["ISSUED", "NOPE"]}, "unknown status 'NOPE'"),
    ],
)
async def test_bad_walk_arguments_are_refused_when_the_walk_is_made(
    client: il.Client, simulator: Simulator, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        client.iter_links(**kwargs)  # type: ignore[arg-type]
    assert simulator.requests == []


def test_client_construction_checks_its_arguments() -> None:
    creds = Simulator(1).credentials
    with pytest.raises(ValueError, match="plain http to a non-loopback host"):
        il.Client(creds, base_url="http://api.instantpay.in")
    with pytest.raises(TypeError, match="credentials must be Credentials"):
        il.Client("id:secret")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retry must be a RetryPolicy"):
        il.Client(creds, retry=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="read_timeout must be a positive"):
        il.Client(creds, read_timeout=0)
    with pytest.raises(ValueError, match="max_response_size must be at least 1"):
        il.Client(creds, max_response_size=0)


def test_client_repr_hides_the_secret() -> None:
    creds = il.Credentials("client-id-abcdef", "the-very-secret", "125.0.0.1")
    client = il.Client(creds)
    assert "the-very-secret" not in repr(client) + str(client)
    assert "https://api.instantpay.in" in repr(client)


async def test_own_session_is_closed_and_aclose_twice_is_fine(
    simulator: Simulator, base_url: str
) -> None:
    client = il.Client(simulator.credentials, base_url=base_url)
    await client.fetch_page()
    session = client._transport._session  # type: ignore[attr-defined]
    assert session is not None and not session.closed
    assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)  # no cookie is sent back
    await client.aclose()
    await client.aclose()
    assert session.closed and client.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.fetch_page()
    with pytest.raises(RuntimeError, match="closed"):
        client.iter_links()


async def test_a_given_session_is_used_and_left_open(simulator: Simulator, base_url: str) -> None:
    async with aiohttp.ClientSession(headers={"X-Trace": "given"}) as session:
        async with il.Client(simulator.credentials, base_url=base_url, session=session) as c:
            await c.fetch_page()
        assert not session.closed
        assert simulator.requests[0].headers["X-Trace"] == "given"


async def test_one_client_serves_many_concurrent_tasks(
    client: il.Client, simulator: Simulator
) -> None:
    async def handler(number: int) -> list[str]:
        if number % 2:
            page = await client.fetch_page(number % 5 + 1, per_page=7)
            return [link.link_id for link in page.records]
        return [link.link_id async for link in client.iter_links(per_page=13)]

    results = await asyncio.gather(*(handler(n) for n in range(40)))
    every_id = [link["linkId"] for link in simulator.links]
    for number, ids in enumerate(results):
        if number % 2:
            start = (number % 5) * 7
            assert ids == every_id[start : start + 7]
        else:
            assert ids == every_id


async def test_a_transient_error_is_retried_and_the_page_arrives(
    client: il.Client, simulator: Simulator
) -> None:
    simulator.inject(Fault.envelope("SPD", "Service provider downtime"))
    page = await client.fetch_page()
    assert [link.link_id for link in page.records] == [wire["linkId"] for wire in simulator.links]
    assert [seen.statuscode for seen in simulator.requests] == ["SPD", "TXN"]


async def test_the_end_customers_ip_can_be_given_per_call(
    client: il.Client, simulator: Simulator
) -> None:
    await client.fetch_page(per_page=5, endpoint_ip="203.0.113.9")
    walk = client.iter_links(per_page=10, concurrency=3, endpoint_ip="2001:db8::7")
    assert len([link async for link in walk]) == 57
    await client.fetch_page(per_page=5)
    ips = [seen.headers["X-Ipay-Endpoint-Ip"] for seen in simulator.requests]
    assert ips[0] == "203.0.113.9"
    assert set(ips[1:-1]) == {"2001:db8::7"}
    assert ips[-1] == "127.0.0.1"  # the credentials' own, when none is given


@pytest.mark.parametrize("ip", ["not-an-ip", "1.2.3.4\r\nX-Evil: 1", ""])
async def test_a_bad_endpoint_ip_is_refused_before_any_request(
    client: il.Client, simulator: Simulator, ip: str
) -> None:
    with pytest.raises(ValueError, match="endpoint_ip"):
        await client.fetch_page(endpoint_ip=ip)
    with pytest.raises(ValueError, match="endpoint_ip"):
        client.iter_links(endpoint_ip=ip)
    assert simulator.requests == []


async def test_from_env_reads_the_credentials_and_the_address(
    simulator: Simulator, base_url: str
) -> None:
    creds = simulator.credentials
    env = {
        "IPAY_CLIENT_ID": creds.client_id,
        "IPAY_CLIENT_SECRET": creds.client_secret,
        "IPAY_ENDPOINT_IP": creds.endpoint_ip,
        "IPAY_BASE_URL": base_url,
    }
    async with il.Client.from_env(env, retry=FAST_RETRY) as client:
        assert client.base_url == base_url
        page = await client.fetch_page(per_page=3)
    assert len(page.records) == 3
    assert il.Client.from_env(env, base_url="https://elsewhere.example").base_url == (
        "https://elsewhere.example"
    )
    without_url = {name: value for name, value in env.items() if name != "IPAY_BASE_URL"}
    assert il.Client.from_env(without_url).base_url == il.DEFAULT_BASE_URL
    with pytest.raises(ValueError, match="IPAY_CLIENT_SECRET, IPAY_ENDPOINT_IP"):
        il.Client.from_env({"IPAY_CLIENT_ID": "x"})


def test_a_client_used_in_a_second_event_loop_says_what_to_do_and_leaks_nothing() -> None:
    from .test_cli import serving

    sim = Simulator(20)
    with serving(sim) as url:
        client = il.Client(sim.credentials, base_url=url, retry=FAST_RETRY)
        page = asyncio.run(client.fetch_page())  # never closed: asyncio.run ends its loop
        assert len(page.records) == 20
        with pytest.raises(RuntimeError, match="one Client per event loop"):
            asyncio.run(client.fetch_page())
    del client
    gc.collect()  # an unclosed session or connection would warn here: an error in this suite
    assert len(sim.requests) == 1
