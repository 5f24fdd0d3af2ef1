"""An InstantPay simulator for tests: ours, and your application's.

    sim = Simulator(links=250, max_page_size=50)
    async with sim.serve() as base_url:
        async with Client(sim.credentials, base_url=base_url) as client:
            ...
    assert len(sim.requests) == 5

Run it standalone with ``python -m ipay_links.testing --port 8080 --links 10000``.
"""

from ._clock import FakeClock
from ._data import generate_links
from ._faults import Fault
from ._mutations import Mutation
from ._requests import SeenRequest
from ._simulator import SIMULATOR_CREDENTIALS, Simulator

__all__ = [
    "SIMULATOR_CREDENTIALS",
    "FakeClock",
    "Fault",
    "Mutation",
    "SeenRequest",
    "Simulator",
    "generate_links",
]
