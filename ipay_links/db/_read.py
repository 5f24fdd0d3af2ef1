"""The mirror read back: its change rows (``changes_since``) and its links counted
(``count_links``). Neither creates anything: an SQLite file that does not exist, or a
database no sync has written, is :class:`~ipay_links.NotSyncedError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import attrs
from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..errors import NotSyncedError
from ._engine import database_failures, engine_for, shown_url
from ._schema import LINK_FIELDS, changes, links, postgresql_refuses

__all__ = ["Change", "changes_since", "count_links"]


@attrs.frozen
class Change:
    """One changed field of one link, as ``payout_link_changes`` holds it.

    - ``sync_id``: the sync run that saw the change; ``link_id``: the link's id.
    - ``field``: the column (``status``, ``amount``, ..., ``missing_since``).
    - ``old_value``, ``new_value``: text (``None`` for no value): amounts with their exact
      digits, datetimes in ISO 8601, payment modes joined with ``|``.
    - ``seen_at``: when the sync stored it (UTC).
    """

    sync_id: int
    link_id: str
    field: str
    old_value: str | None
    new_value: str | None
    seen_at: datetime


# PostgreSQL's integer: the highest id a run can have.
_MAX_ID = 2**31 - 1


def _existing(database: str | AsyncEngine) -> AsyncEngine:
    """An engine for a mirror to read; ``NotSyncedError`` for an SQLite file that does not
    exist (opening it would create it)."""
    engine = engine_for(database)
    if (file := _absent_file(engine)) is not None:
        raise NotSyncedError(f"no database at {file}")
    return engine


async def _check_synced(conn: AsyncConnection, engine: AsyncEngine) -> None:
    """``NotSyncedError`` unless a sync made the mirror's tables."""
    if not await conn.run_sync(lambda sync: sync.dialect.has_table(sync, links.name)):
        raise NotSyncedError(f"{shown_url(engine)} holds no sync yet")


def _absent_file(engine: AsyncEngine) -> str | None:
    """An SQLite database's file when it does not exist (opening it would create it)."""
    if engine.url.get_backend_name() != "sqlite":
        return None
    file = engine.url.database or ""
    return None if Path(file).exists() else file


async def changes_since(
    database: str | AsyncEngine,
    *,
    since: datetime | None = None,
    since_sync: int | None = None,
    field: str | None = None,
) -> AsyncIterator[Change]:
    """The change rows of ``database`` after ``since`` (a moment), or of syncs after ``since_sync``.

    ``database`` is a path, a URL or an engine, as for :func:`sync`. Oldest first;
    ``field`` keeps one field's changes (``"status"``). Raises ``ValueError`` for a naive
    ``since`` or a field the table does not record, ``NotSyncedError`` for a database with
    no sync yet, ``DatabaseUnavailableError`` for one that cannot be read.
    """
    if since is not None and since.tzinfo is None:
        raise ValueError("since must carry its zone (2026-12-01T00:00+05:30)")
    if field is not None and field not in (*LINK_FIELDS, "missing_since"):
        raise ValueError(f"no such field: {field} (one of {', '.join(LINK_FIELDS)}, missing_since)")
    statement = select(changes).order_by(changes.c.id)
    # The ends of time and of run ids, where no database compares: before the first
    # moment is everything, after the last (or after the highest id) nothing.
    if since is not None and postgresql_refuses(since):
        statement = statement.where(false()) if since.year > 1 else statement
    elif since is not None:
        statement = statement.where(changes.c.seen_at > since)
    if since_sync is not None and since_sync >= _MAX_ID:
        statement = statement.where(false())
    elif since_sync is not None and since_sync >= 0:
        statement = statement.where(changes.c.sync_id > since_sync)
    if field is not None:
        statement = statement.where(changes.c.field == field)
    engine = _existing(database)
    try:
        with database_failures(engine):
            async with engine.connect() as conn:
                await _check_synced(conn, engine)
                result = await conn.stream(statement)
                async for row in result:
                    yield Change(
                        sync_id=row.sync_id,
                        link_id=row.link_id,
                        field=row.field,
                        old_value=row.old_value,
                        new_value=row.new_value,
                        seen_at=row.seen_at,
                    )
    finally:
        if engine is not database:
            await engine.dispose()


async def count_links(database: str | AsyncEngine) -> int:
    """How many links the mirror in ``database`` holds (missing ones included).

    Raises ``NotSyncedError`` for a database with no sync yet (an SQLite file that does
    not exist is not created), ``DatabaseUnavailableError`` for one that cannot be read.
    """
    engine = _existing(database)
    try:
        with database_failures(engine):
            async with engine.connect() as conn:
                await _check_synced(conn, engine)
                return int(await conn.scalar(select(func.count()).select_from(links)) or 0)
    finally:
        if engine is not database:
            await engine.dispose()
