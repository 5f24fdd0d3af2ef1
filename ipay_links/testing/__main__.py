"""``python -m ipay_links.testing``: run the simulator as a server (as ``ipay-links simulate``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from ._serve import CannotListen, add_simulator_arguments, serve_forever, simulator_from


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ipay_links.testing",
        description="Serve InstantPay's Payout Link List API from a simulated data set.",
        epilog="example: python -m ipay_links.testing --port 8080 --links 10000",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    add_simulator_arguments(parser)
    args = parser.parse_args(argv)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_forever(simulator_from(args), args.host, args.port))
    except CannotListen as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
