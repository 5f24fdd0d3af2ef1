"""The two example programs, run against the simulator."""

from __future__ import annotations

import csv
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

import ipay_links as il
from ipay_links.examples import reconcile, webapp
from ipay_links.testing import Fault, Simulator


async def test_the_web_app_lists_a_customers_links_through_one_shared_client(
    simulator: Simulator, base_url: str
) -> None:
    email = simulator.links[5]["contactDetails"]["email"]
    wanted = [link for link in simulator.links if link["contactDetails"]["email"] == email]
    # The app sends each customer's own IP, not the one its credentials were made with.
    creds = il.Credentials(
        simulator.credentials.client_id, simulator.credentials.client_secret, "198.51.100.20"
    )
    app = webapp.make_app(credentials=creds, base_url=base_url)
    async with (
        TestServer(app) as server,
        aiohttp.ClientSession() as browser,
    ):
        async with browser.get(server.make_url("/links"), params={"contact": email}) as reply:
            assert reply.status == 200
            body = await reply.json()
        async with browser.get(server.make_url("/links")) as missing:
            assert missing.status == 400
        client = app[webapp.CLIENT]
    assert [link["link_id"] for link in body["links"]] == [w["linkId"] for w in wanted]
    assert simulator.requests[0].headers["X-Ipay-Endpoint-Ip"] == "127.0.0.1"
    assert body["links"][0]["amount"] == str(wanted[0]["amount"])
    assert client.closed  # closed with the application


async def test_the_web_app_reports_instantpays_refusal(simulator: Simulator, base_url: str) -> None:
    wrong = il.Credentials("someone-else", "not-the-secret", "127.0.0.1")
    async with (
        TestServer(webapp.make_app(credentials=wrong, base_url=base_url)) as server,
        aiohttp.ClientSession() as browser,
        browser.get(server.make_url("/links"), params={"contact": "x"}) as reply,
    ):
        assert reply.status == 502
        body = await reply.json()
    assert body["statuscode"] == "IAC"
    assert body["ipay_uuid"]


async def test_the_reconciliation_job_resumes_after_a_failure_without_loss_or_repeat(
    tmp_path: Path,
) -> None:
    simulator = Simulator(1200, seed=5, max_page_size=100)
    claimed = [link["linkId"] for link in simulator.links if link["status"] == "CLAIMED"]
    assert len(claimed) > 300  # several pages of 100
    simulator.inject(Fault.envelope("IAC", "Invalid dealer credentials"), page=2)
    out = tmp_path / "claimed.csv"
    async with simulator.serve() as url, il.Client(simulator.credentials, base_url=url) as client:
        with pytest.raises(il.AuthenticationError):
            await reconcile.reconcile(client, out, concurrency=4)
        assert (tmp_path / "claimed.csv.checkpoint").exists()
        second = await reconcile.reconcile(client, out, concurrency=4)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["link_id"] for row in rows] == claimed
    assert second == len(claimed) - 100
    assert not (tmp_path / "claimed.csv.checkpoint").exists()
