"""The simulator behaves like InstantPay: envelope, filters, paging, credentials, RPI."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from ipay_links.testing import SIMULATOR_CREDENTIALS, Fault, Simulator, generate_links

HEADERS = {
    "X-Ipay-Auth-Code": "1",
    "X-Ipay-Client-Id": SIMULATOR_CREDENTIALS.client_id,
    "X-Ipay-Client-Secret": SIMULATOR_CREDENTIALS.client_secret,
    "X-Ipay-Endpoint-Ip": "127.0.0.1",
    "Content-Type": "application/json",
}


def ask(sim: Simulator, body: Any, headers: dict[str, str] = HEADERS, method: str = "GET") -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return sim.answer(method, headers, raw)[1]


def test_data_set_is_deterministic_realistic_and_newest_first() -> None:
    links = generate_links(2000, seed=1)
    assert links == generate_links(2000, seed=1)
    assert links != generate_links(2000, seed=2)
    assert len({link["linkId"] for link in links}) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{24}", link["linkId"]) for link in links)
    assert {link["status"] for link in links} == {
        "ISSUED",
        "CLAIMED",
        "CANCELLED",
        "PROCESSING",
        "EXPIRED",
    }
    assert all(re.fullmatch(r"[6-9]\d{9}", link["contactDetails"]["mobile"]) for link in links)
    amounts = [Decimal(str(link["amount"])) for link in links]
    assert any(isinstance(link["amount"], int) for link in links)  # whole rupees
    assert any(a.as_tuple().exponent == -2 and str(a)[-1] != "0" for a in amounts)
    activated = [link["activatedAt"] for link in links]
    assert activated == sorted(activated, reverse=True)


def test_envelope_has_exactly_the_reference_keys() -> None:
    envelope = ask(Simulator(5), {})
    assert set(envelope) == {
        "statuscode",
        "actcode",
        "status",
        "data",
        "timestamp",
        "ipay_uuid",
        "orderid",
        "environment",
        "internalCode",
    }
    assert envelope["statuscode"] == "TXN"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", envelope["timestamp"])


def test_paging_meta_matches_the_reference_sample_shape() -> None:
    envelope = ask(
        Simulator(12, max_page_size=2), {"pagination": {"pageNumber": "1", "recordsPerPage": "10"}}
    )
    assert envelope["data"]["meta"] == {
        "totalPages": 6,
        "currentPage": 1,
        "totalRecords": 12,
        "recordsOnCurrentPage": 2,
        "recordFrom": 1,
        "recordTo": 2,
    }


def test_default_page_size_is_used_when_none_is_asked() -> None:
    assert len(ask(Simulator(25), {})["data"]["records"]) == 10


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"status": ["CLAIMED"]}, lambda link: link["status"] == "CLAIMED"),
        ({"status": "EXPIRED"}, lambda link: link["status"] == "EXPIRED"),
        (
            {"status": ["ISSUED", "CANCELLED"]},
            lambda link: link["status"] in ("ISSUED", "CANCELLED"),
        ),
    ],
)
def test_status_filter(filters: dict[str, Any], check: Any) -> None:
    sim = Simulator(200)
    records = ask(sim, {"filters": filters, "pagination": {"recordsPerPage": "200"}})["data"][
        "records"
    ]
    assert records and all(check(link) for link in records)
    assert len(records) == sum(check(link) for link in sim.links)


@pytest.mark.parametrize("key", ["name", "email", "mobile"])
def test_contact_filter_matches_name_email_or_mobile(key: str) -> None:
    sim = Simulator(100)
    target = sim.links[17]["contactDetails"][key]
    records = ask(sim, {"filters": {"contact": target.upper() if key != "mobile" else target}})
    assert records["statuscode"] == "TXN"
    assert all(
        link["contactDetails"][key].lower() == target.lower() for link in records["data"]["records"]
    )


def test_link_id_filter() -> None:
    sim = Simulator(100)
    envelope = ask(sim, {"filters": {"linkId": sim.links[42]["linkId"]}})
    assert envelope["data"]["records"] == [sim.links[42]]


def test_an_empty_result_is_no_record_found() -> None:
    envelope = ask(Simulator(10), {"filters": {"linkId": "0" * 24}})
    assert (envelope["statuscode"], envelope["status"], envelope["data"]) == (
        "ERR",
        "No Record Found",
        None,
    )


def test_wrong_credentials_get_iac() -> None:
    envelope = ask(Simulator(10), {}, HEADERS | {"X-Ipay-Client-Secret": "guess"})
    assert envelope["statuscode"] == "IAC"


@pytest.mark.parametrize(
    ("body", "headers", "method"),
    [
        ({"pagination": {"pageNumber": "0"}}, HEADERS, "GET"),
        ({"pagination": {"recordsPerPage": "ten"}}, HEADERS, "GET"),
        (b"{not json", HEADERS, "GET"),
        ({}, {k: v for k, v in HEADERS.items() if k != "X-Ipay-Endpoint-Ip"}, "GET"),
        ({}, HEADERS | {"Content-Type": "text/plain"}, "GET"),
        ({}, HEADERS, "POST"),
        ({"pagination": {"pageNumber": "²"}}, HEADERS, "GET"),
        ({"filters": {"status": [["ISSUED"]]}}, HEADERS, "GET"),
    ],
)
def test_a_request_outside_the_contract_gets_rpi(
    body: Any, headers: dict[str, str], method: str
) -> None:
    assert ask(Simulator(10), body, headers, method)["statuscode"] == "RPI"


async def test_serve_records_what_it_saw_and_frees_the_port() -> None:
    sim = Simulator(5)
    async with sim.serve() as url, aiohttp.ClientSession() as session:
        body = {"pagination": {"pageNumber": "1", "recordsPerPage": "3"}}
        async with session.get(url + "/payments/payout/link/list", json=body, headers=HEADERS) as r:
            answer = await r.json()
        assert answer["statuscode"] == "TXN"
    (seen,) = sim.requests
    assert (seen.method, seen.page, seen.per_page, seen.statuscode) == ("GET", 1, 3, "TXN")
    assert sim.url is None


async def test_standalone_server_runs_from_the_command_line() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ipay_links.testing",
        "--port",
        "0",
        "--links",
        "30",
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        line = (await asyncio.wait_for(process.stderr.readline(), 20)).decode()
        match = re.search(r"on (http://\S+) with 30 links", line)
        assert match, line
        async with (
            aiohttp.ClientSession() as session,
            session.get(match[1] + "/payments/payout/link/list", json={}, headers=HEADERS) as r,
        ):
            answer = await r.json()
        assert answer["data"]["meta"]["totalRecords"] == 30
    finally:
        process.terminate()
        await process.wait()


async def test_serve_on_ipv6_loopback_gives_a_bracketed_url() -> None:
    sim = Simulator(3)
    try:
        async with sim.serve("::1") as url:
            assert url.startswith("http://[::1]:")
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    url + "/payments/payout/link/list", json={}, headers=HEADERS
                ) as response,
            ):
                assert (await response.json())["statuscode"] == "TXN"
    except OSError as exc:  # a machine without IPv6 on loopback
        pytest.skip(f"no IPv6 loopback here: {exc}")


async def send(session: aiohttp.ClientSession, url: str, *, times: int) -> None:
    """Ask the simulator at ``url`` for its first page ``times`` times, one after another."""
    for _ in range(times):
        async with session.get(
            url + "/payments/payout/link/list", json={}, headers=HEADERS
        ) as response:
            await response.read()


def test_keep_requests_bounds_the_request_log() -> None:
    async def run() -> int:
        sim = Simulator(3, keep_requests=2)
        async with sim.serve() as url, aiohttp.ClientSession() as session:
            await send(session, url, times=5)
        return len(sim.requests)

    assert asyncio.run(run()) == 2


async def test_each_request_is_a_seen_request_that_faults_and_mutations_share() -> None:
    from ipay_links.testing import Fault, Mutation, SeenRequest

    sim = Simulator(5)
    sim.inject(Fault.envelope("SPD", "down"))
    sim.mutate(Mutation.insert(2, after_page=1))
    async with sim.serve() as url, aiohttp.ClientSession() as session:
        await send(session, url, times=2)
    first, second = sim.requests
    assert all(isinstance(seen, SeenRequest) for seen in sim.requests)
    assert (first.fault, first.statuscode, first.page) == ("envelope", "SPD", 1)
    assert (second.fault, second.statuscode) == (None, "TXN")
    assert len(sim.links) == 7  # inserted once, after page 1 was first served


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ipay_links.testing"],
        [sys.executable, "-m", "ipay_links", "simulate"],
    ],
)
def test_a_busy_port_is_one_clear_line_and_exit_2(command: list[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*command, "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


async def test_faults_go_to_requests_in_their_order_of_arrival() -> None:
    sim = Simulator(30, latency=0.02)
    sim.inject_every(Fault.status(503), 7)
    sim.inject(Fault.html(502), times=2)
    async with sim.serve() as url, aiohttp.ClientSession() as session:

        async def get() -> None:
            body = b'{"pagination": {"pageNumber": "1"}}'
            headers = {"Content-Type": "application/json"}
            async with session.get(
                f"{url}/payments/payout/link/list", data=body, headers=headers
            ) as r:
                await r.read()

        sim.pause()  # all fourteen arrive before any is answered
        requests = asyncio.gather(*(get() for _ in range(14)))
        await sim.wait_for_requests(14)
        sim.resume()
        await requests
    faults = [seen.fault for seen in sim.requests]
    assert faults.count("status") == 2  # the 7th and the 14th, counted as they arrived
    assert faults.count("html") == 2


async def test_wait_for_requests_counts_what_keep_requests_no_longer_keeps() -> None:
    sim = Simulator(10, keep_requests=3)
    async with sim.serve() as url, aiohttp.ClientSession() as session:
        for _ in range(5):
            async with session.get(f"{url}/payments/payout/link/list") as response:
                await response.read()
        await sim.wait_for_requests(5, timeout=5)
    assert sim.request_count == 5
    assert len(sim.requests) == 3
