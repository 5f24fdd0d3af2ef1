"""The commands of ``ipay-links``, each a coroutine of the checked command line.

:data:`COMMANDS` maps a command's name to it. ``export`` writes through ``_export.py``,
``sync`` and ``changes`` run in ``_sync.py``; ``page``, ``check`` and ``simulate`` are
here whole.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .._core.plain import to_plain
from .._io.client import Client
from ..errors import (
    AuthenticationError,
    IpayError,
    RateLimitError,
    ServiceUnavailableError,
    TransportError,
    shown,
)
from ..models import Page
from ._client import open_client
from ._export import export, file_target
from ._options import query_options
from ._sync import run_changes, run_sync
from ._usage import UsageError

__all__ = ["COMMANDS"]


async def _export(args: argparse.Namespace) -> None:
    """Every link of the query, to stdout or to ``-o FILE`` (locked before the first request)."""
    if args.output is None:
        async with open_client(args) as client:
            await export(client, args, None, sys.stdout)
        return
    with file_target(args) as target:  # checked and locked before the first request
        async with open_client(args) as client:
            await export(client, args, target, sys.stdout)


async def _page(args: argparse.Namespace) -> None:
    """Page N as JSON on stdout; on stderr, why it is empty when it is."""
    import msgspec

    note = None
    async with open_client(args) as client:
        page = await client.fetch_page(args.number, **query_options(args))
        if not page.records and args.number > 1:
            note = await _empty_page(client, args, page)
    # The page's fields in order: meta, records, ipay_uuid, timestamp, environment.
    encoded = msgspec.json.Encoder(decimal_format="number").encode(to_plain(page))
    sys.stdout.write(msgspec.json.format(encoded, indent=2).decode() + "\n")
    if note is not None:
        print(f"ipay-links: {note}", file=sys.stderr)


async def _empty_page(client: Client, args: argparse.Namespace, page: Page) -> str:
    """Why page N came back empty: past the last page, or no link at all."""
    meta = page.meta
    if not meta.total_records:  # InstantPay's "No Record Found" carries no totals: ask page 1
        meta = (await client.fetch_page(1, **query_options(args))).meta
    if not meta.total_records:
        return f"page {args.number} is empty: no link matches the filters"
    where = "past the last page" if args.number > meta.total_pages else "empty"
    pages = "page 1" if meta.total_pages == 1 else f"pages 1 to {meta.total_pages}"
    return (
        f"page {args.number} is {where}: the result has {meta.total_records} links, on "
        f"{pages} (the zeros of its meta are InstantPay's empty answer)"
    )


async def _check(args: argparse.Namespace) -> None:
    """One request for one link; what it shows of the credentials, the server, the account."""
    async with open_client(args) as client:
        print(f"base URL:     {client.base_url}", flush=True)
        started = time.perf_counter()
        try:
            page = await client.fetch_page(1, per_page=1)
        except IpayError as error:
            refused = isinstance(error, AuthenticationError)
            print(f"credentials:  {'refused' if refused else 'not known (no answer)'}")
            error.add_note(_fix(error))
            raise
        elapsed = time.perf_counter() - started
    print("credentials:  accepted")
    print(f"environment:  {shown(page.environment or '-', 40)}")
    print(f"links:        {page.meta.total_records}")
    print(f"round trip:   {elapsed * 1000:.0f} ms")
    print(f"ipay_uuid:    {shown(page.ipay_uuid or '-', 100)}")


def _fix(error: IpayError) -> str:
    """What to do about a failed check, in a few words."""
    if isinstance(error, AuthenticationError):
        return (
            "check IPAY_CLIENT_ID, IPAY_CLIENT_SECRET, IPAY_AUTH_CODE and IPAY_ENDPOINT_IP "
            "against what InstantPay issued for this account"
        )
    if isinstance(error, TransportError):
        return "the server could not be reached: check --base-url, the proxy and the network"
    if isinstance(error, RateLimitError | ServiceUnavailableError):
        return "the server is up but busy or down for now: try again later"
    return "the server does not answer as InstantPay's API does: check --base-url"


async def _simulate(args: argparse.Namespace) -> None:
    """Serve the simulator until Ctrl-C; a port that cannot be listened on is a usage error."""
    from ..testing._serve import CannotListen, serve_forever, simulator_from

    try:
        await serve_forever(simulator_from(args), args.host, args.port)
    except CannotListen as exc:
        raise UsageError(str(exc)) from None


async def _sync(args: argparse.Namespace) -> None:
    """Mirror the query's links into ``--db`` (``_sync.py``), through the command's client."""
    await run_sync(args, open_client)


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "export": _export,
    "page": _page,
    "check": _check,
    "sync": _sync,
    "changes": run_changes,
    "simulate": _simulate,
}
