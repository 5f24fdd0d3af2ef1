"""Shared fixtures: the simulator on a loopback port and a real client pointed at it."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import ipay_links as il
from ipay_links.testing import Simulator

from ._postgres import (
    PostgresServer,
    postgres_fixture,  # noqa: F401  # `postgres`: one server a session
)

pytest_plugins = ["pytester"]  # runs test files as a user's project would

DATA = Path(__file__).parent / "data"
# Tiny waits keep retry tests fast; the logic is the same as with real delays.
FAST_RETRY = il.RetryPolicy(max_tries=3, max_time=60.0, base_delay=0.001, max_delay=0.004)


def sample_envelope() -> dict[str, Any]:
    """InstantPay's own sample answer from the endpoint's reference page."""
    result: dict[str, Any] = json.loads((DATA / "reference_sample.json").read_text())
    return result


def pytest_sessionstart(session: pytest.Session) -> None:
    """No event loop is current until a test sets one, whatever order the tests run in.

    pytest-asyncio 0.26 (our lowest) asks for the current loop before an async test and
    puts it back after: the first time, that makes one that nobody closes, and the next
    ``asyncio.run`` (which leaves no loop current) drops it: a ResourceWarning, an error
    here. The first ``asyncio.run`` of the suite used to prevent that only if it came
    first; with pytest-xdist's order it may not.
    """
    asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def _seeded_random(request: pytest.FixtureRequest) -> None:
    """The same random numbers (a retry's jitter) for a test wherever and after whatever it runs.

    pytest-xdist hands tests to its workers in an order of its own: without a seed of the
    test's own, the global generator's state would depend on the tests run before it.
    """
    random.seed(request.node.nodeid)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The mirror's database, once an SQLite file and once a new database on the session's
    PostgreSQL server: the sync tests run on both."""
    if request.param == "sqlite":
        yield str(tmp_path / "mirror.db")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    yield server.new_database()


@pytest.fixture
def simulator() -> Simulator:
    return Simulator(57, seed=7)


@pytest.fixture
async def base_url(simulator: Simulator) -> AsyncIterator[str]:
    async with simulator.serve() as url:
        yield url


@pytest.fixture
async def client(simulator: Simulator, base_url: str) -> AsyncIterator[il.Client]:
    async with il.Client(simulator.credentials, base_url=base_url, retry=FAST_RETRY) as client:
        yield client
