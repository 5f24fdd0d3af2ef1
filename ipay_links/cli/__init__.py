"""``ipay-links``: export payout links, look at a page, check the credentials, run the simulator.

It owns the options, their checks, the commands and how an error ends the process.
Every value of the command line is checked before anything runs
(``_checks.check_arguments``, and ``-o FILE`` by ``_export.file_target``): past that point
a ``ValueError`` or ``TypeError`` is a bug, not a usage error.

Exit codes: 0 success, 1 a file could not be read or written, or an internal error (a
bug), 2 usage error (bad option, missing credentials, a target that is not ours to
write, another export writing it), 3 authentication refused, 4 API or network failure
after retries, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

from .._core.plain import to_plain
from .._io.client import Client
from .._io.retry import RetryPolicy
from ..errors import (
    AuthenticationError,
    IpayError,
    RateLimitError,
    ServiceUnavailableError,
    TransportError,
    shown,
)
from ..models import Page
from ._checks import check_arguments
from ._export import export, file_target
from ._options import query_options
from ._parser import parse
from ._sync import DatabaseError, run_changes, run_sync, since_of
from ._usage import UsageError

__all__ = ["main"]

EXIT_OK, EXIT_FILE, EXIT_USAGE, EXIT_AUTH, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_INTERNAL = 1  # a bug: shares its code with file errors, its line says which


@asynccontextmanager
async def _open_client(args: argparse.Namespace) -> AsyncIterator[Client]:
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


async def _export(args: argparse.Namespace) -> None:
    if args.output is None:
        async with _open_client(args) as client:
            await export(client, args, None, sys.stdout)
        return
    with file_target(args) as target:  # checked and locked before the first request
        async with _open_client(args) as client:
            await export(client, args, target, sys.stdout)


async def _page(args: argparse.Namespace) -> None:
    import msgspec

    note = None
    async with _open_client(args) as client:
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
    async with _open_client(args) as client:
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
    from ..testing._serve import CannotListen, serve_forever, simulator_from

    try:
        await serve_forever(simulator_from(args), args.host, args.port)
    except CannotListen as exc:
        raise UsageError(str(exc)) from None


async def _sync(args: argparse.Namespace) -> None:
    await run_sync(args, _open_client)


async def _changes(args: argparse.Namespace) -> None:
    if args.since is not None:
        since_of(args.since)  # a bad --since is a usage error before the database is opened
    await run_changes(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "export": _export,
    "page": _page,
    "check": _check,
    "sync": _sync,
    "changes": _changes,
    "simulate": _simulate,
}


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Logs to whatever ``sys.stderr`` is when a record is emitted."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("ipay-links: %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


_HANDLER = _StderrHandler()


def _configure_logging(args: argparse.Namespace) -> None:
    verbose = getattr(args, "verbose", 0)
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    if getattr(args, "quiet", False) and not verbose:
        level = logging.ERROR
    library = logging.getLogger("ipay_links")
    if _HANDLER not in library.handlers:
        library.addHandler(_HANDLER)
    library.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = parse(sys.argv[1:] if argv is None else argv)
    _configure_logging(args)
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Exports are UTF-8 whatever the terminal's locale says (JSON is UTF-8).
        sys.stdout.reconfigure(encoding="utf-8")
    try:
        check_arguments(args)
        asyncio.run(COMMANDS[args.command](args))
    except KeyboardInterrupt:
        print("ipay-links: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`ipay-links export | head`): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # noqa: BLE001  # each kind maps to an exit code in _fail
        return _fail(error, args)
    return EXIT_OK


def _fail(error: Exception, args: argparse.Namespace) -> int:
    """Say what went wrong in one line (after the traceback with ``--debug``); the exit code."""
    debug = getattr(args, "debug", False)
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    # One line, whatever the server's message holds (new lines, escape sequences); then
    # what to do about it, when a command added that as a note (``check`` does).
    message = "; ".join([str(error), *getattr(error, "__notes__", ())])
    text = "".join(char if char.isprintable() else " " for char in message)
    code = _exit_code(error)
    if code is None:  # neither the user's mistake nor the server's: ours
        hint = "" if debug else " (run with --debug for the traceback)"
        print(f"ipay-links: internal error: {type(error).__name__}: {text}{hint}", file=sys.stderr)
        return EXIT_INTERNAL
    kind = {EXIT_AUTH: "authentication refused", EXIT_USAGE: "error"}.get(code)
    print(f"ipay-links: {kind or type(error).__name__}: {text}", file=sys.stderr)
    return code


def _exit_code(error: Exception) -> int | None:
    """The exit code of an expected failure; ``None`` for any other exception (a bug)."""
    if isinstance(error, AuthenticationError):
        return EXIT_AUTH
    if isinstance(error, IpayError | DatabaseError):
        return EXIT_FAILURE
    if isinstance(error, OSError | UnicodeError):
        return EXIT_FILE
    if isinstance(error, UsageError):
        return EXIT_USAGE
    return None
