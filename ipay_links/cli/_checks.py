"""The checks of a command line's values, before anything runs: each one a usage error.

:func:`check_arguments` refuses, as a :class:`UsageError` (exit 2), every value the
library would refuse, and makes the client of a server. ``-o FILE`` is checked where
it is locked, by ``_export.file_target``, before the first request.
"""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

from .._core.protocol import check_base_url, check_page, check_positive
from .._io.network import parse_proxy
from ..credentials import Credentials
from ._client import client_from_env
from ._options import query_of
from ._sync import since_of
from ._usage import UsageError

__all__ = ["check_arguments"]


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, as a :class:`UsageError`, every value of the command line the library would.

    The client of a server is made here too (not opened), into ``args.client`` (``None``
    with ``--simulator``). After this a ``ValueError`` or ``TypeError`` is a bug of ours.
    """
    try:
        if args.command == "changes":
            if args.since is not None:
                since_of(args.since)  # before the database is opened
            return
        if args.command == "simulate":
            if args.fault:
                check_positive("--fault-every", args.fault_every)
            return
        _check_source(args)
        if args.command == "page":
            check_page(args.number)
        if args.command not in ("check",):
            query_of(args)
        if args.command == "export":
            _check_export(args)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None


def _check_source(args: argparse.Namespace) -> None:
    """The simulator, or the client of a server: its address, proxy, CAs and credentials."""
    if args.simulator:
        for flag in ("base_url", "proxy", "ca_bundle"):
            if getattr(args, flag) is not None:
                name = "--" + flag.replace("_", "-")
                raise UsageError(
                    f"--simulator serves its own links in this process: leave out {name}, or "
                    "--simulator to ask the server at --base-url"
                )
        args.client = None  # _client.open_client serves a simulator instead
        return
    if args.proxy is not None:
        parse_proxy(args.proxy, "--proxy")
    ssl_context = None if args.ca_bundle is None else _trusting(args.ca_bundle)
    if args.base_url:  # the command line's values first, then the environment's
        check_base_url(args.base_url)
    try:
        credentials = Credentials.from_env()
    except ValueError as exc:  # names what is missing or wrong, never a value
        raise UsageError(
            f"{exc} (or add --simulator to try ipay-links without credentials)"
        ) from None
    # The client checks the rest (the address among them); opening it sends nothing.
    args.client = client_from_env(args, credentials, ssl_context)


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
