"""The client a command talks to: InstantPay's (or ``--base-url``'s), or a simulator's.

The client of a server is made while the arguments are checked (``_checks.py``), so
that a value it refuses is a usage error before anything runs. With ``--simulator``
a simulator is served in this process, on a loopback port, for the time of the command.
"""

from __future__ import annotations

import argparse
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .._io.client import Client
from .._io.retry import RetryPolicy
from ..credentials import Credentials

__all__ = ["client_from_env", "open_client"]


def client_from_env(
    args: argparse.Namespace, credentials: Credentials, ssl_context: ssl.SSLContext | None
) -> Client:
    """The client of a server, as :meth:`Client.from_env` makes it: not open, nothing sent.

    The address is ``--base-url``, else ``Client.from_env``'s (``IPAY_BASE_URL``, else
    InstantPay's API): the rule is the library's, written once. Raises ``ValueError``
    for a value the client refuses (an address that is not https, among others).
    """
    # An empty --base-url leaves the address to the environment, as it always has.
    address = {"base_url": args.base_url} if args.base_url else {}
    return Client.from_env(
        credentials=credentials, retry=_retry(args), proxy=args.proxy, ssl=ssl_context, **address
    )


@asynccontextmanager
async def open_client(args: argparse.Namespace) -> AsyncIterator[Client]:
    """The command's client, open; with ``--simulator``, a simulator serving it meanwhile."""
    if args.client is not None:  # made by _checks.check_arguments
        async with args.client as client:
            yield client
        return
    from ..testing import Simulator

    simulator = Simulator(args.simulator_links)
    async with (
        simulator.serve() as url,
        # The simulator is in this process: no proxy of the environment is on the way.
        Client(simulator.credentials, base_url=url, retry=_retry(args), trust_env=False) as client,
    ):
        yield client


def _retry(args: argparse.Namespace) -> RetryPolicy:
    """``--retries``: tries per page (``check`` makes one)."""
    return RetryPolicy(max_tries=args.retries)
