"""The client a command talks to: InstantPay's (or ``--base-url``'s), or a simulator's.

With ``--simulator`` a simulator is served in this process, on a loopback port, for
the time of the command.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .._io.client import Client
from .._io.retry import RetryPolicy

__all__ = ["open_client"]


@asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[Client]:
    """The command's client, open; with ``--simulator``, a simulator serving it meanwhile."""
    retry = RetryPolicy(max_tries=args.retries)
    if args.credentials is not None:
        async with Client(
            args.credentials, base_url=args.base_url, retry=retry, proxy=args.proxy, ssl=args.ssl
        ) as client:
            yield client
        return
    from ..testing import Simulator

    simulator = Simulator(args.simulator_links)
    async with (
        simulator.serve() as url,
        # The simulator is in this process: no proxy of the environment is on the way.
        Client(simulator.credentials, base_url=url, retry=retry, trust_env=False) as client,
    ):
        yield client
