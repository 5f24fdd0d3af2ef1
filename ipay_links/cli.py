"""``ipay-links``: export payout links from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TextIO

from . import __version__
from ._codec import unstructure_link
from .client import DEFAULT_BASE_URL, Client
from .credentials import Credentials
from .errors import AuthenticationError, IpayError
from .models import LinkStatus, PayoutLink
from .protocol import DEFAULT_PER_PAGE

__all__ = ["main"]

EXIT_OK, EXIT_USAGE, EXIT_AUTH, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipay-links", description="Export InstantPay payout links."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "export",
        help="write every link for the filters as JSON Lines",
        description="Walk every page and write one JSON object per link to stdout.",
        epilog="example: ipay-links export --simulator --status ISSUED --per-page 50",
    )
    export.add_argument(
        "--status",
        action="append",
        choices=[member.value for member in LinkStatus],
        help="keep links in this status (repeatable)",
    )
    export.add_argument("--contact", help="a contact's name, mobile number or email")
    export.add_argument("--link-id", help="one link's id")
    export.add_argument(
        "--per-page", type=int, default=DEFAULT_PER_PAGE, help="page size asked for"
    )
    export.add_argument("--max-items", type=int, default=None, help="stop after this many links")
    export.add_argument(
        "--base-url", default=DEFAULT_BASE_URL, help="API root (default: %(default)s)"
    )
    export.add_argument(
        "--simulator",
        action="store_true",
        help="export from the built-in InstantPay simulator: no credentials needed",
    )
    export.add_argument(
        "--simulator-links", type=int, default=1000, help="links in the simulator's data set"
    )
    return parser


def json_line(link: PayoutLink) -> str:
    """One link as a JSON object; ``amount`` is written as the exact decimal number."""
    record = unstructure_link(link)
    amount = record.pop("amount")
    rest = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return f'{{"amount":{format(amount, "f")},{rest[1:]}'


@asynccontextmanager
async def _open_client(args: argparse.Namespace) -> AsyncIterator[Client]:
    if not args.simulator:
        async with Client(Credentials.from_env(), base_url=args.base_url) as client:
            yield client
        return
    from .testing import Simulator

    simulator = Simulator(args.simulator_links)
    async with simulator.serve() as url, Client(simulator.credentials, base_url=url) as client:
        yield client


async def _export(args: argparse.Namespace, out: TextIO) -> int:
    async with _open_client(args) as client:
        walk = client.iter_links(
            per_page=args.per_page,
            status=args.status,
            contact=args.contact,
            link_id=args.link_id,
            max_items=args.max_items,
        )
        async for link in walk:
            out.write(json_line(link) + "\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_export(args, sys.stdout))
    except (ValueError, TypeError) as exc:
        print(f"ipay-links: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AuthenticationError as exc:
        print(f"ipay-links: authentication refused: {exc}", file=sys.stderr)
        return EXIT_AUTH
    except IpayError as exc:
        print(f"ipay-links: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("ipay-links: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`ipay-links export | head`): stop quietly, as cat does.
        # Point stdout at devnull so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
