"""``ipay-links``: export payout links, look at a page, run the simulator.

It owns the options, their checks, the commands and how an error ends the process.
Every value of the command line is checked before anything runs
(:func:`_check_arguments`): past that point a ``ValueError`` or ``TypeError`` is a bug,
not a usage error.

Exit codes: 0 success, 1 a file could not be read or written, or an internal error (a
bug), 2 usage error (bad option, missing credentials), 3 authentication refused, 4 API or
network failure after retries, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from .._plain import to_plain
from .._retry import RetryPolicy
from ..client import DEFAULT_BASE_URL, Client
from ..credentials import Credentials
from ..errors import AuthenticationError, IpayError
from ..models import LinkStatus
from ..protocol import MAX_PER_PAGE, check_base_url, check_page, check_positive, make_query
from ._export import UsageError, export
from ._formats import FORMATS

__all__ = ["main"]

if TYPE_CHECKING:  # argparse's own name for what add_subparsers() returns; not public
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK, EXIT_FILE, EXIT_USAGE, EXIT_AUTH, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_INTERNAL = 1  # a bug: shares its code with file errors, its line says which

_EXPORT_EXAMPLES = """examples:
  ipay-links export --simulator --max-items 5
  ipay-links export --status ISSUED --status PROCESSING -o links.csv --format csv
  ipay-links export --concurrency 8 -o links.jsonl       (and, if it stopped: --resume)
  IPAY_CLIENT_ID=... IPAY_CLIENT_SECRET=... IPAY_ENDPOINT_IP=... ipay-links export -o all.json

credentials come from IPAY_CLIENT_ID, IPAY_CLIENT_SECRET, IPAY_ENDPOINT_IP (and
IPAY_AUTH_CODE, 1 by default) unless --simulator is given.
exit codes: 0 done, 1 file error or internal error, 2 usage, 3 authentication refused,
4 API or network failure after retries, 130 interrupted."""


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


def _common(parser: argparse.ArgumentParser) -> None:
    """Where the links come from, and how much to say."""
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
        "--base-url", default=DEFAULT_BASE_URL, help="API root (default: %(default)s)"
    )
    parser.add_argument(
        "--retries",
        type=_positive,
        default=5,
        metavar="N",
        help="tries per page before giving up (default: %(default)s; 1: no retry)",
    )
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
        choices=[member.value for member in LinkStatus],
        help="keep links in this status; repeat for several (example: --status ISSUED)",
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipay-links",
        description="Export InstantPay payout links, look at one page, or run a simulator.",
        epilog="run 'ipay-links COMMAND --help' for each command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _export_parser(commands)
    _page_parser(commands)
    _simulate_parser(commands)
    return parser


def _export_parser(commands: Commands) -> None:
    parser = commands.add_parser(
        "export",
        help="write every link for the filters to a file or stdout",
        description="Walk every page and write every link, exactly once, to stdout or -o FILE.",
        epilog=_EXPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _filters(parser)
    parser.add_argument(
        "-o", "--output", type=Path, help="write to FILE (through FILE.partial) instead of stdout"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="jsonl", help="output format (default: jsonl)"
    )
    parser.add_argument(
        "--concurrency", type=_positive, default=1, metavar="N", help="pages requested at once"
    )
    parser.add_argument(
        "--consistency",
        choices=("fast", "strict"),
        default="fast",
        help="strict reads one page at a time, exact under any change (see the README)",
    )
    parser.add_argument(
        "--max-items", type=_positive, default=None, metavar="N", help="stop after N links"
    )
    parser.add_argument(
        "--resume", action="store_true", help="go on with an interrupted -o FILE export"
    )
    _common(parser)


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
        if args.command == "simulate":
            if args.fault:
                check_positive("--fault-every", args.fault_every)
            return
        args.credentials = None if args.simulator else Credentials.from_env()
        check_base_url(args.base_url)
        if args.command == "page":
            check_page(args.number)
        make_query(
            per_page=args.per_page, status=args.status, contact=args.contact, link_id=args.link_id
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None


@asynccontextmanager
async def _open_client(args: argparse.Namespace) -> AsyncIterator[Client]:
    retry = RetryPolicy(max_tries=args.retries)
    if args.credentials is not None:
        async with Client(args.credentials, base_url=args.base_url, retry=retry) as client:
            yield client
        return
    from ..testing import Simulator

    simulator = Simulator(args.simulator_links)
    async with (
        simulator.serve() as url,
        Client(simulator.credentials, base_url=url, retry=retry) as client,
    ):
        yield client


async def _export(args: argparse.Namespace) -> None:
    async with _open_client(args) as client:
        await export(client, args, sys.stdout)


async def _page(args: argparse.Namespace) -> None:
    import msgspec

    async with _open_client(args) as client:
        page = await client.fetch_page(
            args.number,
            per_page=args.per_page,
            status=args.status,
            contact=args.contact,
            link_id=args.link_id,
        )
    # The page's fields in order: meta, records, ipay_uuid, timestamp, environment.
    encoded = msgspec.json.Encoder(decimal_format="number").encode(to_plain(page))
    sys.stdout.write(msgspec.json.format(encoded, indent=2).decode() + "\n")


async def _simulate(args: argparse.Namespace) -> None:
    from ..testing._serve import CannotListen, serve_forever, simulator_from

    try:
        await serve_forever(simulator_from(args), args.host, args.port)
    except CannotListen as exc:
        raise UsageError(str(exc)) from None


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "export": _export,
    "page": _page,
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
    args = _parser().parse_args(argv)
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
    # One line, whatever the server's message holds (new lines, escape sequences).
    text = "".join(char if char.isprintable() else " " for char in str(error))
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
    if isinstance(error, IpayError):
        return EXIT_FAILURE
    if isinstance(error, OSError | UnicodeError):
        return EXIT_FILE
    if isinstance(error, UsageError):
        return EXIT_USAGE
    return None
