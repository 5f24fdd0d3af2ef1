"""``python -m ipay_links.testing``: run the simulator as a server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from ._simulator import Simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ipay_links.testing",
        description="Serve InstantPay's Payout Link List API from a simulated data set.",
        epilog="example: python -m ipay_links.testing --port 8080 --links 10000",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    parser.add_argument("--links", type=int, default=1000, help="links in the data set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data set")
    parser.add_argument("--max-page-size", type=int, default=None, help="server-side page size cap")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    sim = Simulator(
        args.links,
        seed=args.seed,
        max_page_size=args.max_page_size,
        latency=args.latency,
        keep_requests=1000,  # a long-running server keeps only the latest requests
    )
    async with sim.serve(args.host, args.port) as url:
        creds = sim.credentials
        print(f"InstantPay simulator on {url} with {len(sim.links)} links", file=sys.stderr)
        print(
            f"credentials: IPAY_CLIENT_ID={creds.client_id}"
            f" IPAY_CLIENT_SECRET={creds.client_secret} IPAY_ENDPOINT_IP={creds.endpoint_ip}",
            file=sys.stderr,
        )
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
