"""``ipay-links sync`` and ``ipay-links changes``: the database mirror, from the command line.

The ``db`` extra is imported only here, when one of the two commands runs: without it,
the command says what to install.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._io.client import Client
from ..errors import DatabaseError, NotSyncedError, SyncBusyError, UnstorableLinkError
from ._formats import neutral
from ._options import query_options
from ._usage import UsageError

if TYPE_CHECKING:
    import argparse

__all__ = ["run_changes", "run_sync"]

CHANGE_FIELDS = ("sync_id", "link_id", "field", "old_value", "new_value", "seen_at")
# The library names its argument, ``database``; the command line its option.
_ARGUMENT = re.compile(r"^database(?=[: ])")


def _db() -> Any:
    try:
        from .. import db
    except ImportError as exc:
        raise UsageError(
            f"ipay-links {sys.argv[1] if len(sys.argv) > 1 else 'sync'} needs the db extra "
            f'({exc.name} is missing): pip install "ipay-links[db]"'
        ) from None
    return db


@asynccontextmanager
async def _database_errors() -> AsyncIterator[None]:
    """The mirror's errors in the command line's words: another sync, a bad ``--db`` or
    one with no sync yet are usage errors (exit 2); the rest of :class:`DatabaseError`
    (a refused link, a newer schema, a database that failed) exit 4, shown as
    ``DatabaseError``."""
    try:
        yield
    except SyncBusyError as exc:
        raise UsageError(str(exc)) from None
    except NotSyncedError as exc:
        raise UsageError(f"{exc}: run ipay-links sync first") from None
    except ValueError as exc:
        raise UsageError(_ARGUMENT.sub("--db", str(exc))) from None
    except UnstorableLinkError as exc:
        raise DatabaseError(f"the database refused a link: {exc}") from None
    except DatabaseError as exc:
        raise DatabaseError(exc.message) from None


async def run_sync(
    args: argparse.Namespace,
    open_client: Callable[[argparse.Namespace], AbstractAsyncContextManager[Client]],
) -> None:
    """Mirror every link of the command's query into ``--db``; print what it did."""
    db = _db()
    options = query_options(args)
    async with open_client(args) as client, _database_errors():
        report = await db.sync(
            client,
            args.db,
            concurrency=args.concurrency,
            consistency=args.consistency,
            restart=args.restart,
            **options,
        )
    how = "resumed and complete" if report.resumed else "complete"
    missing = "" if report.missing is None else f", {report.missing} missing"
    print(
        f"sync {report.sync_id} {how}: {report.seen} links seen, {report.new} new, "
        f"{report.changed} changed{missing}"
    )
    print(f"database: {report.database}")


def since_of(text: str) -> tuple[datetime | None, int | None]:
    """``--since``: a sync run's id (``12``), or a date or moment in ISO 8601.

    A moment without a zone is read as Indian time, as InstantPay's are; a date is its
    midnight there.
    """
    if text.isascii() and text.isdigit():
        if len(text) > 10 or int(text) > 2**31 - 1:
            raise UsageError(f"--since {text}: no sync run has so high an id")
        return None, int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text!r}: give a sync id (12) or a date or moment "
            "(2026-12-01, 2026-12-01T09:30+05:30)"
        ) from None
    if moment.tzinfo is None:
        from .._core.codec import IST

        moment = moment.replace(tzinfo=IST)
    return moment, None


async def run_changes(args: argparse.Namespace) -> None:
    """Print the change rows of ``--db`` (since ``--since``), as JSON lines or CSV."""
    db = _db()
    since, since_sync = (None, None) if args.since is None else since_of(args.since)
    writer = csv.writer(sys.stdout, lineterminator="\n") if args.format == "csv" else None
    if writer is not None:
        writer.writerow(CHANGE_FIELDS)
    async with _database_errors():
        async for change in db.changes_since(
            args.db, since=since, since_sync=since_sync, field=args.field
        ):
            row = {
                "sync_id": change.sync_id,
                "link_id": change.link_id,
                "field": change.field,
                "old_value": change.old_value,
                "new_value": change.new_value,
                "seen_at": change.seen_at.isoformat(),
            }
            if writer is None:
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                cells = ["" if row[name] is None else str(row[name]) for name in CHANGE_FIELDS]
                # An amount's old and new values are numbers, as in an export's amount column.
                kinds = [
                    "amount" if change.field == "amount" and name.endswith("_value") else name
                    for name in CHANGE_FIELDS
                ]
                writer.writerow(
                    [neutral(kind, cell) for kind, cell in zip(kinds, cells, strict=True)]
                )
