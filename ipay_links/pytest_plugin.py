"""The pytest plugin: ``ipay_simulator`` and ``ipay_client`` fixtures for your own tests.

Registered through the ``pytest11`` entry point, so installing ``ipay-links`` is
enough; the fixtures are async and need pytest-asyncio (``pip install
"ipay-links[pytest]"``), in either of its modes. Without it they fail with a line
saying so, and nothing else changes for pytest.

- ``ipay_simulator``: a started :class:`~ipay_links.testing.Simulator`. Its arguments
  come from the ``ipay_simulator`` marker (``@pytest.mark.ipay_simulator(250,
  max_page_size=50, latency=0.01)``); faults are injected by the test itself.
- ``ipay_client``: an open :class:`~ipay_links.Client` against it, whose waits (backoff,
  Retry-After, a walk's holds) are slept on a :class:`~ipay_links.testing.FakeClock`:
  the fault schedule is kept, the waits take no wall time, and ``ipay_client.clock.sleeps``
  lists them. Closed after the test.

It lives outside ``ipay_links.testing`` so that loading it costs a pytest run in an
environment with ipay-links installed no more than ``import ipay_links``: the simulator
(and aiohttp) are imported when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ipay_links import Client
    from ipay_links.testing import Simulator

__all__ = ["ipay_client", "ipay_simulator"]

_MISSING = (
    "the ipay_simulator and ipay_client fixtures are async: install pytest-asyncio "
    '(pip install "ipay-links[pytest]")'
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ipay_simulator(*args, **kwargs): the arguments of the ipay_simulator fixture's "
        "Simulator (links, max_page_size=, latency=, ...)",
    )


async def _simulator(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    from ipay_links.testing import Simulator

    marker = request.node.get_closest_marker("ipay_simulator")
    args, kwargs = (marker.args, marker.kwargs) if marker else ((), {})
    simulator = Simulator(*args, **kwargs)
    async with simulator.serve():
        yield simulator


async def _client(ipay_simulator: Simulator) -> AsyncIterator[Client]:
    from ipay_links import Client
    from ipay_links.testing import FakeClock

    assert ipay_simulator.url is not None
    clock = FakeClock()
    # trust_env=False: a proxy of the environment would be on the way to the loopback simulator.
    async with Client(
        ipay_simulator.credentials, base_url=ipay_simulator.url, clock=clock, trust_env=False
    ) as c:
        yield c


def _make_fixtures() -> tuple[Any, Any]:
    try:
        import pytest_asyncio
    except ImportError:

        @pytest.fixture
        def ipay_simulator() -> None:
            pytest.fail(_MISSING, pytrace=False)

        @pytest.fixture
        def ipay_client() -> None:
            pytest.fail(_MISSING, pytrace=False)

        return ipay_simulator, ipay_client
    # pytest_asyncio.fixture: an async fixture in strict mode and in auto mode alike.
    simulator = pytest_asyncio.fixture(_simulator, name="ipay_simulator", loop_scope="function")
    client = pytest_asyncio.fixture(_client, name="ipay_client", loop_scope="function")
    return simulator, client


ipay_simulator, ipay_client = _make_fixtures()
