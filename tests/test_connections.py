"""No connection is held across a yield: leaving a walk early leaks nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

import ipay_links as il
from ipay_links.testing import Simulator


@pytest.fixture
async def one_connection_client(simulator: Simulator, base_url: str) -> AsyncIterator[il.Client]:
    """A client whose session has a single connection: a leaked one would block the next call."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session,
        il.Client(simulator.credentials, base_url=base_url, session=session) as client,
    ):
        yield client


async def assert_nothing_left(client: il.Client) -> None:
    page = await asyncio.wait_for(client.fetch_page(per_page=3), timeout=2.0)
    assert len(page.records) == 3
    others = asyncio.all_tasks() - {asyncio.current_task()}
    # The simulator's own request handlers run in this loop too; no other task may remain.
    server = "RequestHandler"
    client_side = [
        t for t in others if not getattr(t.get_coro(), "__qualname__", "").startswith(server)
    ]
    assert client_side == []


async def test_breaking_out_of_a_walk_leaves_no_connection_checked_out(
    one_connection_client: il.Client,
) -> None:
    async for link in one_connection_client.iter_links(per_page=10):
        if link:
            break
    await assert_nothing_left(one_connection_client)


async def test_raising_inside_a_walk_leaves_no_connection_checked_out(
    one_connection_client: il.Client,
) -> None:
    async def failing_consumer() -> None:
        async for _ in one_connection_client.iter_links(per_page=10):
            raise KeyError("consumer failed")

    with pytest.raises(KeyError):
        await failing_consumer()
    await assert_nothing_left(one_connection_client)


async def test_a_cancelled_walk_leaves_no_connection_checked_out(
    one_connection_client: il.Client, simulator: Simulator
) -> None:
    simulator.latency = 0.5

    async def consume() -> None:
        async for _ in one_connection_client.iter_links(per_page=10):
            pass

    task = asyncio.create_task(consume())
    await simulator.wait_for_requests(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    simulator.latency = 0.0
    await assert_nothing_left(one_connection_client)
