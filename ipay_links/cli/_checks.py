"""The checks of a command line's values, before anything runs: each one a usage error.

:func:`check_arguments` refuses, as a :class:`UsageError` (exit 2), every value the
library would refuse, and reads the credentials. ``-o FILE`` is checked by
``_export.file_target``, the ``--since`` of ``changes`` by ``_sync.since_of``.
"""

from __future__ import annotations

import argparse
import os
import ssl
from pathlib import Path

from .._core.protocol import check_base_url, check_page, check_positive
from .._io.client import DEFAULT_BASE_URL
from .._io.network import parse_proxy
from ..credentials import Credentials
from ._options import query_of
from ._usage import UsageError

__all__ = ["check_arguments"]


def check_arguments(args: argparse.Namespace) -> None:
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
            query_of(args)
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
