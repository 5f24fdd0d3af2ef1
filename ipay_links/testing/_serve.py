"""Running the simulator as a server from a command line: its options and its loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from ._faults import Fault
from ._mutations import Mutation
from ._simulator import Simulator

__all__ = ["FAULTS", "add_simulator_arguments", "serve_forever", "simulator_from"]

# The faults a command line can schedule, by name.
FAULTS = {
    "html502": Fault.html(502),
    "status503": Fault.status(503),
    "spd": Fault.envelope("SPD", "Service provider downtime"),
    "rate-limit": Fault.rate_limit("1"),
    "reset": Fault.reset(),
    "truncate": Fault.truncate(),
    "garbage": Fault.garbage(),
    "iac": Fault.envelope("IAC", "Invalid dealer credentials"),
}


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that shape the simulator: its data, its pace, its faults, its changes."""
    parser.add_argument("--links", type=int, default=1000, help="links in the data set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data set")
    parser.add_argument(
        "--max-page-size", type=int, default=None, help="page size the server caps answers at"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument(
        "--fault", choices=sorted(FAULTS), help="a fault to serve now and then (with --fault-every)"
    )
    parser.add_argument(
        "--fault-every", type=int, default=10, help="serve --fault to every K-th request"
    )
    parser.add_argument(
        "--insert-every", type=int, default=None, help="create a link at the head every K requests"
    )
    parser.add_argument(
        "--claim-every",
        type=int,
        default=None,
        help="move an ISSUED link to CLAIMED every K requests",
    )


def simulator_from(args: argparse.Namespace) -> Simulator:
    """The simulator the options of :func:`add_simulator_arguments` describe."""
    simulator = Simulator(
        args.links,
        seed=args.seed,
        max_page_size=args.max_page_size,
        latency=args.latency,
        keep_requests=1000,  # a long-running server keeps only the latest requests
    )
    if args.fault:
        simulator.inject_every(FAULTS[args.fault], args.fault_every)
    if args.insert_every:
        simulator.mutate(Mutation.insert(1, every=args.insert_every))
    if args.claim_every:
        simulator.mutate(Mutation.move(1, "ISSUED", "CLAIMED", every=args.claim_every))
    return simulator


class CannotListen(Exception):
    """The simulator could not listen on the address it was given (a busy port, say)."""


async def serve_forever(simulator: Simulator, host: str, port: int) -> None:
    """Serve until cancelled (Ctrl-C), saying where and with which credentials.

    Raises :class:`CannotListen`, one line naming the address and why, when the
    address cannot be bound.
    """
    async with contextlib.AsyncExitStack() as stack:
        try:
            url = await stack.enter_async_context(simulator.serve(host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CannotListen(f"cannot listen on {host}:{port}: {reason}") from None
        creds = simulator.credentials
        print(f"InstantPay simulator on {url} with {len(simulator.links)} links", file=sys.stderr)
        print(
            f"credentials: IPAY_CLIENT_ID={creds.client_id}"
            f" IPAY_CLIENT_SECRET={creds.client_secret} IPAY_ENDPOINT_IP={creds.endpoint_ip}",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.Event().wait()
