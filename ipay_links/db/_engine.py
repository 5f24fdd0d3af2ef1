"""Which database: a URL made into an async engine, and the lock that lets one sync write it.

``ipay-links.db``, ``sqlite:///path`` and ``postgresql://...`` are accepted; the async
driver (aiosqlite, asyncpg) is filled in. One sync at a time writes a database: SQLite's
is an exclusive ``flock`` on ``FILE.sync-lock``, PostgreSQL's an advisory lock held by a
connection of its own. Both end with the process that holds them, however it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["DEFAULT_DATABASE", "SyncBusyError", "engine_for", "shown_url", "sync_lock"]

DEFAULT_DATABASE = "ipay-links.db"
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
# pg_advisory_lock's key: "ipay" in ASCII, the same in every database of a server.
_ADVISORY_KEY = 0x69706179


class SyncBusyError(RuntimeError):
    """Another sync is writing the same database; nothing was written."""


def database_url(database: str | os.PathLike[str]) -> URL:
    """``database`` (a path to an SQLite file, or a URL) as an async driver's URL.

    Raises ``ValueError`` for anything but SQLite and PostgreSQL, or an in-memory SQLite
    database (it would live and die with one connection).
    """
    value = os.fspath(database)
    try:
        url = make_url(value) if "://" in value else URL.create("sqlite", database=value)
    except (ArgumentError, ValueError):
        raise ValueError(f"--db: not a database URL: {_without_password(value)}") from None
    backend = "postgresql" if url.get_backend_name() in ("postgresql", "postgres") else None
    backend = backend or url.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(
            f"the database must be SQLite (a file) or PostgreSQL, not {url.get_backend_name()}"
        )
    if backend == "sqlite" and (not url.database or url.database == ":memory:"):
        raise ValueError("an in-memory SQLite database cannot be synced: give a file")
    driver = url.get_driver_name()
    if driver in ("", "pysqlite", "psycopg2") or "+" not in url.drivername:
        url = url.set(drivername=_DRIVERS[backend])
    return url


def _without_password(value: str) -> str:
    scheme, _, rest = value.partition("://")
    if "@" not in rest:
        return value
    credentials, _, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def shown_url(engine: AsyncEngine) -> str:
    """The database's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


def engine_for(database: str | os.PathLike[str] | AsyncEngine) -> AsyncEngine:
    """An engine for ``database``; SQLite files in WAL mode, foreign keys on."""
    if isinstance(database, AsyncEngine):
        return database
    url = database_url(database)
    options: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        # A reader (ipay-links changes) may read while a sync writes.
        options["connect_args"] = {"timeout": 30}
    engine = create_async_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _: object) -> None:
    cursor = connection.cursor()
    # WAL: a commit survives the process being killed at any point after it.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextlib.contextmanager
def _file_lock(database: Path, shown: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``DATABASE.sync-lock``, released when the process ends."""
    path = database.with_name(database.name + ".sync-lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncBusyError(f"another ipay-links sync is writing {shown}") from None
        yield
    finally:
        os.close(fd)  # the lock file stays: removing it would race a second sync


@asynccontextmanager
async def sync_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the database's one sync lock; ``SyncBusyError`` when another sync holds it."""
    if engine.url.get_backend_name() == "sqlite":
        with _file_lock(Path(engine.url.database or ""), shown_url(engine)):
            yield
        return
    async with engine.connect() as connection:
        locked = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY}
        )
        if not locked:
            raise SyncBusyError(f"another ipay-links sync is writing {shown_url(engine)}")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY}
                )
