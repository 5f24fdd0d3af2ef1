"""The ``ipay-links`` command line's parser: its commands, options, help texts and examples.

:func:`parse` reads the command line, or exits 2 with argparse's usage message. The
argparse types refuse what is not a number or a status; every other value is checked
by ``_checks.check_arguments``, before anything runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from .._core.checkpoint import CONSISTENCY_LEVELS
from .._core.protocol import MAX_PER_PAGE, check_positive
from .._io.client import DEFAULT_BASE_URL
from ..models import LinkStatus
from ._formats import FORMATS

__all__ = ["parse"]

if TYPE_CHECKING:  # argparse's own name for what add_subparsers() returns; not public
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

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


def build_parser() -> tuple[argparse.ArgumentParser, Commands]:
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


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, or exit 2 with the usage of the command an unknown option was given to."""
    parser, commands = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = list(argv)  # for the command a hint spells out (_export._again)
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
    _walk_options(parser)
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
    """How a walk reads the pages: how many at once, and how exact under change."""
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
