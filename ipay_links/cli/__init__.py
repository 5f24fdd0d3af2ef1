"""``ipay-links``: export payout links, look at a page, check the credentials, run the simulator.

This is the entry point (``ipay_links.cli:main``, ``python -m ipay_links``): it reads
the command line (``_parser.py``), checks every value before anything runs
(``_checks.py``, and ``-o FILE`` by ``_export.file_target``), runs the command
(``_commands.py``) and ends the process as :data:`EXIT_CODES` says. Past the checks a
``ValueError`` or ``TypeError`` is a bug, not a usage error.

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
import traceback
from collections.abc import Sequence

from ..errors import AuthenticationError, IpayError
from ._checks import check_arguments
from ._commands import COMMANDS
from ._parser import parse
from ._usage import UsageError

__all__ = ["main"]

EXIT_OK, EXIT_FILE, EXIT_USAGE, EXIT_AUTH, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_INTERNAL = 1  # a bug: shares its code with file errors, its line says which

_BUG = "internal error"

# How a command ends, by what ended it: the first kind the exception is an instance of
# gives the exit code and the word its line starts with (None: the exception's class
# name). Ctrl-C shows the word alone; a reader gone away (``ipay-links export | head``)
# shows nothing, as cat does; any other exception is a bug of ours (_BUG).
EXIT_CODES: tuple[tuple[type[BaseException], int, str | None], ...] = (
    (KeyboardInterrupt, EXIT_INTERRUPTED, "interrupted"),
    (BrokenPipeError, EXIT_OK, None),
    (AuthenticationError, EXIT_AUTH, "authentication refused"),
    (IpayError, EXIT_FAILURE, None),  # the database's DatabaseError included
    (OSError, EXIT_FILE, None),
    (UnicodeError, EXIT_FILE, None),
    (UsageError, EXIT_USAGE, "error"),
    (Exception, EXIT_INTERNAL, _BUG),
)


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
    except (KeyboardInterrupt, Exception) as error:  # noqa: BLE001  # each ends as EXIT_CODES says
        return _end(error, args)
    return EXIT_OK


def _end(error: BaseException, args: argparse.Namespace) -> int:
    """Say how the command ended, in one line (after the traceback with ``--debug``); its code."""
    code, word = next((code, word) for kind, code, word in EXIT_CODES if isinstance(error, kind))
    if isinstance(error, KeyboardInterrupt):
        print(f"ipay-links: {word}", file=sys.stderr)
        return code
    if isinstance(error, BrokenPipeError):
        # Nothing more reaches the reader: stdout goes to /dev/null, so that Python's
        # own flush at exit finds no pipe to break.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return code
    debug = getattr(args, "debug", False)
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    # One line, whatever the server's message holds (new lines, escape sequences); then
    # what to do about it, when a command added that as a note (``check`` does).
    message = "; ".join([str(error), *getattr(error, "__notes__", ())])
    text = "".join(char if char.isprintable() else " " for char in message)
    if word == _BUG:  # neither the user's mistake nor the server's: ours
        hint = "" if debug else " (run with --debug for the traceback)"
        print(f"ipay-links: {_BUG}: {type(error).__name__}: {text}{hint}", file=sys.stderr)
    else:
        print(f"ipay-links: {word or type(error).__name__}: {text}", file=sys.stderr)
    return code
