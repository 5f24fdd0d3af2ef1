"""``ipay-links``: export payout links, look at a page, check the credentials, run the simulator.

It owns the options, their checks, the commands and how an error ends the process.
Every value of the command line is checked before anything runs
(:func:`_check_arguments`, and ``-o FILE`` by ``_export.file_target``): past that point
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
import ssl
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from .._core.checkpoint import CONSISTENCY_LEVELS
from .._core.plain import to_plain
from .._core.protocol import MAX_PER_PAGE, check_base_url, check_page, check_positive, make_query
from .._io.client import DEFAULT_BASE_URL, Client
from .._io.network import parse_proxy
from .._io.retry import RetryPolicy
from ..credentials import Credentials
from ..errors import (
    AuthenticationError,
    IpayError,
    RateLimitError,
    ServiceUnavailableError,
    TransportError,
    shown,
)
from ..models import LinkStatus, Page
from ._export import export, file_target, query_options
from ._formats import FORMATS
from ._sync import DatabaseError, run_changes, run_sync, since_of
from ._usage import UsageError

__all__ = ["main"]

if TYPE_CHECKING:  # argparse's own name for what add_subparsers() returns; not public
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK, EXIT_FILE, EXIT_USAGE, EXIT_AUTH, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_INTERNAL = 1  # a bug: shares its code with file errors, its line says which

_CREDENTIALS = """credentials come from IPAY_CLIENT_ID, IPAY_CLIENT_SECRET, IPAY_ENDPOINT_IP (and
IPAY_AUTH_CODE, 1 by default) unless --simulator is given; the address from --base-url,
else IPAY_BASE_URL, else InstantPay's API."""

_EXPORT_EXAMPLES = f"""examples:
  ipay-links export --simulator --max-items 5
  ipay-links export --status issued --status processing -o links.csv --format csv
  ipay-links export --concurrency 8 -o links.jsonl       (and, if it stopped: --resume)
  IPAY_CLIENT_ID=... IPAY_CLIENT_SECRET=... IPAY_ENDPOINT_IP=... ipay-links export -o all.json

{_CREDENTIALS}
-o FILE must be absent (or a regular file, replaced with --force) in a directory you can
write; it is written through FILE.partial and FILE.checkpoint (mode 0600), and one
export at a time writes it. After a failure, --resume goes on; --restart starts again.
CSV: a text cell starting with = + - @, a tab or a carriage return gets a leading ' so
that a spreadsheet shows it instead of running it (OWASP); --csv-raw writes it as is.
Amounts are never changed.
exit codes: 0 done, 1 file error or internal error, 2 usage, 3 authentication refused,
4 API or network failure after retries, 130 interrupted."""

_CHECK_EPILOG = f"""examples:
  ipay-links check
  ipay-links check --simulator
  ipay-links check --base-url http://127.0.0.1:8080     (ipay-links simulate, elsewhere)

{_CREDENTIALS}
exit codes: 0 the credentials work, 2 usage (a variable missing), 3 credentials refused,
4 the server cannot be reached or does not answer as InstantPay does."""


_SYNC_EXAMPLES = f"""examples:
  ipay-links sync --simulator                      (into ipay-links.db, here)
  ipay-links sync --concurrency 8 --db postgresql://ipay@db.internal/links
  ipay-links sync --status issued --db mirror.db   (a filtered sync marks nothing missing)

{_CREDENTIALS}
One sync at a time writes a database: a second exits 2. A sync cut short is resumed by
the next one with the same filters (--restart abandons it).
exit codes: 0 done, 2 usage or another sync running, 3 authentication refused,
4 API, network or database failure (resume it by running the command again), 130
interrupted."""

_CHANGES_EXAMPLES = """examples:
  ipay-links changes --since 2026-12-01 --field status --format csv
  ipay-links changes --since 12                    (what syncs after run 12 recorded)
exit codes: 0 done, 2 usage, 4 database failure."""


def _positive(text: str) -> int:
    """An argparse type: a whole number of 1 or more (the library's ``check_positive``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    try:
        return check_positive("N", value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not 1 or more") from None


def _status(text: str) -> str:
    """An argparse type: a status in any case (``claimed``), as InstantPay spells it."""
    return text.upper() if text.isascii() else text  # "ıssued".upper() is ISSUED


def _common(parser: argparse.ArgumentParser) -> None:
    """Where the links come from, how hard to try, and how much to say."""
    _source(parser)
    parser.add_argument(
        "--retries",
        type=_positive,
        default=5,
        metavar="N",
        help="tries per page before giving up (default: %(default)s; 1: no retry)",
    )
    _verbosity(parser)


def _source(parser: argparse.ArgumentParser) -> None:
    """Where the links come from: InstantPay (or --base-url), or a simulator in the process."""
    parser.add_argument(
        "--simulator",
        action="store_true",
        help="use the built-in InstantPay simulator: no credentials needed",
    )
    parser.add_argument(
        "--simulator-links",
        type=_positive,
        default=1000,
        metavar="N",
        help="links in the simulator's data set (default: %(default)s)",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"API root (default: IPAY_BASE_URL, else {DEFAULT_BASE_URL}); not with --simulator",
    )
    parser.add_argument(
        "--proxy",
        metavar="URL",
        help="forward proxy, http://[user:password@]host:port (default: HTTPS_PROXY or "
        "ALL_PROXY, unless NO_PROXY names the host)",
    )
    parser.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="FILE",
        help="PEM file of the CAs to trust instead of the system's (default: SSL_CERT_FILE)",
    )


def _verbosity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log INFO (-v) or DEBUG (-vv) to stderr"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no warnings")
    _debug(parser)


def _debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status",
        action="append",
        type=_status,
        choices=[member.value for member in LinkStatus],
        help="keep links in this status, in any case; repeat for several (example: --status "
        "issued)",
    )
    parser.add_argument(
        "--contact", help="a contact's name, mobile or email (example: --contact 9876543210)"
    )
    parser.add_argument(
        "--link-id", help="one link's id (example: --link-id 657aa9841b8d3897ff0a84fb)"
    )
    parser.add_argument(
        "--per-page",
        type=int,
        default=None,
        metavar="N",
        help=f"page size asked for, 1 to {MAX_PER_PAGE} (default: 100; the server may cap it)",
    )


def _parser() -> tuple[argparse.ArgumentParser, Commands]:
    parser = argparse.ArgumentParser(
        prog="ipay-links",
        description="Export InstantPay payout links, look at one page, check the credentials, "
        "or run a simulator.",
        epilog="run 'ipay-links COMMAND --help' for each command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _export_parser(commands)
    _page_parser(commands)
    _check_parser(commands)
    _sync_parser(commands)
    _changes_parser(commands)
    _simulate_parser(commands)
    return parser, commands


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, or exit 2 with the usage of the command an unknown option was given to."""
    parser, commands = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = list(argv)  # for the command a hint spells out (_export._restart)
    return args


def _export_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "export",
        help="write every link for the filters to a file or stdout",
        description="Walk every page and write every link, exactly once, to stdout or -o FILE.",
        epilog=_EXPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _filters(parser)
    _output(parser)
    parser.add_argument(
        "--concurrency", type=_positive, default=1, metavar="N", help="pages requested at once"
    )
    parser.add_argument(
        "--consistency",
        choices=CONSISTENCY_LEVELS,
        default="fast",
        help="strict reads one page at a time, exact under any change (see the README)",
    )
    parser.add_argument(
        "--max-items", type=_positive, default=None, metavar="N", help="stop after N links"
    )
    _common(parser)


def _output(parser: argparse.ArgumentParser) -> None:
    """Where an export goes, in which format, and what to do with what is there."""
    parser.add_argument(
        "-o", "--output", type=Path, help="write to FILE (through FILE.partial) instead of stdout"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="jsonl", help="output format (default: jsonl)"
    )
    parser.add_argument(
        "--csv-raw",
        action="store_true",
        help="write CSV cells as they are, formulas included (by default a text cell starting "
        "with = + - @, a tab or a CR gets a leading ')",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace -o FILE if it exists (its mode is kept)"
    )
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="go on with an interrupted -o FILE export"
    )
    again.add_argument(
        "--restart",
        action="store_true",
        help="discard what an interrupted -o FILE export left, and start again",
    )


def _page_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "page",
        help="print one page, with its meta, as JSON",
        description="Fetch one page and print it, meta and links, as JSON.",
        epilog="example: ipay-links page 2 --simulator --per-page 5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("number", type=int, help="the page number, from 1")
    _filters(parser)
    _common(parser)


def _check_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "check",
        help="try the credentials with one request, and say what to fix",
        description="Ask for one link (one request) and print the base URL, whether the "
        "credentials were accepted, the environment, the number of links, the round-trip "
        "time and the request's ipay_uuid.",
        epilog=_CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _source(parser)
    _verbosity(parser)
    parser.set_defaults(retries=1)  # one request: a check says what happened to it


def _walk_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency", type=_positive, default=1, metavar="N", help="pages requested at once"
    )
    parser.add_argument(
        "--consistency",
        choices=CONSISTENCY_LEVELS,
        default="fast",
        help="strict reads one page at a time, exact under any change (see the README)",
    )


def _database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default="ipay-links.db",
        metavar="URL",
        help="an SQLite file or sqlite:///PATH, or postgresql://user@host/db "
        "(default: %(default)s in this directory)",
    )


def _sync_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "sync",
        help="mirror every link into a database, and record what changed",
        description="Walk every link and upsert it into --db by link id, one transaction per "
        "page; record each changed field in payout_link_changes. A sync cut short (killed, "
        "failed, Ctrl-C) is resumed by the next sync of the same filters. Needs the db extra: "
        'pip install "ipay-links[db]".',
        epilog=_SYNC_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _filters(parser)
    _database(parser)
    _walk_options(parser)
    parser.add_argument(
        "--restart",
        action="store_true",
        help="abandon a sync of these filters that was cut short, and start again",
    )
    _common(parser)


def _changes_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "changes",
        help="print what changed, as recorded by sync",
        description="Print the changed fields recorded by ipay-links sync, oldest first: "
        "sync_id, link_id, field, old_value, new_value, seen_at.",
        epilog=_CHANGES_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _database(parser)
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="only changes after a moment (2026-12-01, 2026-12-01T09:30+05:30; Indian time "
        "when no zone) or after a sync run's id (12)",
    )
    parser.add_argument("--field", help="only this field's changes (example: --field status)")
    parser.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default: jsonl)"
    )
    _debug(parser)


def _simulate_parser(commands: Commands) -> None:
    from ..testing._serve import add_simulator_arguments

    parser = commands.add_parser(
        "simulate",
        help="run the InstantPay simulator as a server",
        description="Serve InstantPay's Payout Link List API on a port, until Ctrl-C.",
        epilog="example: ipay-links simulate --port 8080 --links 5000 --latency 0.05 "
        "--fault spd --fault-every 20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    add_simulator_arguments(parser)
    _debug(parser)


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse, as a :class:`UsageError`, every value of the command line the library would.

    The credentials are read here too, into ``args.credentials`` (``None`` with
    ``--simulator``). After this a ``ValueError`` or ``TypeError`` is a bug of ours.
    """
    try:
        if args.command == "changes":
            return
        if args.command == "simulate":
            if args.fault:
                check_positive("--fault-every", args.fault_every)
            return
        _check_source(args)
        if args.command == "page":
            check_page(args.number)
        if args.command not in ("check",):
            make_query(**query_options(args))
        if args.command == "export":
            _check_export(args)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None


def _check_source(args: argparse.Namespace) -> None:
    """The simulator, or a base URL and the credentials from the environment."""
    if args.simulator:
        for flag in ("base_url", "proxy", "ca_bundle"):
            if getattr(args, flag) is not None:
                name = "--" + flag.replace("_", "-")
                raise UsageError(
                    f"--simulator serves its own links in this process: leave out {name}, or "
                    "--simulator to ask the server at --base-url"
                )
        args.credentials = None
        return
    if args.proxy is not None:
        parse_proxy(args.proxy, "--proxy")
    args.ssl = None if args.ca_bundle is None else _trusting(args.ca_bundle)
    # As Client.from_env: --base-url, else IPAY_BASE_URL, else the real API.
    args.base_url = check_base_url(
        args.base_url or os.environ.get("IPAY_BASE_URL") or DEFAULT_BASE_URL
    )
    try:
        args.credentials = Credentials.from_env()
    except ValueError as exc:  # names what is missing or wrong, never a value
        raise UsageError(
            f"{exc} (or add --simulator to try ipay-links without credentials)"
        ) from None


def _trusting(bundle: Path) -> ssl.SSLContext:
    """A context that trusts the CAs of ``bundle`` (a PEM file) and no other."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=bundle)
    except OSError as exc:
        raise UsageError(f"--ca-bundle {bundle}: {exc.strerror or exc}") from None
    except ssl.SSLError:
        raise UsageError(f"--ca-bundle {bundle}: no PEM certificate in it") from None
    return context


def _check_export(args: argparse.Namespace) -> None:
    if args.output is None:
        for flag in ("resume", "restart", "force"):
            if getattr(args, flag):
                raise UsageError(f"--{flag} needs -o FILE: it is about a file export")
    if args.csv_raw and args.format != "csv":
        raise UsageError(f"--csv-raw is about CSV cells: it needs --format csv, not {args.format}")


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
    args = _parse(sys.argv[1:] if argv is None else argv)
    _configure_logging(args)
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Exports are UTF-8 whatever the terminal's locale says (JSON is UTF-8).
        sys.stdout.reconfigure(encoding="utf-8")
    try:
        _check_arguments(args)
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
