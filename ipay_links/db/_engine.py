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
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..errors import DatabaseUnavailableError, SyncBusyError, hiding
from ..errors import shown as shown_text

__all__ = [
    "DEFAULT_DATABASE",
    "database_failures",
    "engine_for",
    "shown_url",
    "sync_lock",
]

DEFAULT_DATABASE = "ipay-links.db"
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
# pg_advisory_lock's key: "ipay" in ASCII, the same in every database of a server.
_ADVISORY_KEY = 0x69706179


def database_url(database: str | os.PathLike[str]) -> URL:
    """``database`` (a path to an SQLite file, or a URL) as an async driver's URL.

    Raises ``ValueError`` for anything but SQLite and PostgreSQL, or an in-memory SQLite
    database (it would live and die with one connection). The messages name the argument,
    ``database``: the command line shows its option instead.
    """
    value = os.fspath(database)
    try:
        url = make_url(value) if "://" in value else URL.create("sqlite", database=value)
    except (ArgumentError, ValueError):
        raise ValueError(f"database: not a database URL: {_without_password(value)}") from None
    backend = "postgresql" if url.get_backend_name() in ("postgresql", "postgres") else None
    backend = backend or url.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(
            f"the database must be SQLite (a file) or PostgreSQL, not {url.get_backend_name()}"
        )
    if backend == "sqlite" and (not url.database or url.database == ":memory:"):
        raise ValueError("an in-memory SQLite database cannot be synced: give a file")
    if backend == "sqlite" and url.database and Path(url.database).is_dir():
        raise ValueError(f"database {url.database} is a folder: give a file in it")
    if backend == "sqlite" and url.query:
        # aiosqlite would ignore them (mode=ro, with a warning, then writes all the same).
        raise ValueError(
            f"database: SQLite URLs take no options ({', '.join(sorted(url.query))}): "
            "give the file's path"
        )
    if url.port is not None and not 0 < url.port < 65536:  # make_url took it as a number
        raise ValueError(f"database: port {url.port} is out of range (1 to 65535)")
    # The URL names the database; the driver is this library's: a sync needs an async one
    # (postgresql+psycopg2://, postgresql+psycopg:// name the same database).
    url = url.set(drivername=_DRIVERS[backend])
    if backend == "postgresql":
        url = _asyncpg_options(url)
    return url


# The URL options asyncpg takes as text (the rest of its connect() arguments are numbers
# or objects), with the values it knows (None: any); libpq's sslmode is its ssl.
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SESSION_ATTRS = ("any", "primary", "standby", "prefer-standby", "read-write", "read-only")
_ASYNCPG_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "password": None,
    "passfile": None,
    "ssl": _SSL_MODES,
    "target_session_attrs": _SESSION_ATTRS,
}


def _asyncpg_options(url: URL) -> URL:
    """libpq's ``sslmode`` as asyncpg's ``ssl``; any option asyncpg does not take refused
    here, not as a ``TypeError`` from inside the driver."""
    query = dict(url.query)
    if "sslmode" in query:
        if "ssl" in query:
            raise ValueError("database: give sslmode or ssl, not both")
        query["ssl"] = query.pop("sslmode")
    unknown = sorted(set(query) - set(_ASYNCPG_OPTIONS))
    if unknown:
        raise ValueError(
            f"database: PostgreSQL URL options {', '.join(unknown)} are not supported "
            f"(sslmode, {', '.join(_ASYNCPG_OPTIONS)} are)"
        )
    for name, value in query.items():
        known = _ASYNCPG_OPTIONS[name]
        if known is not None and value not in known:
            raise ValueError(
                f"database: {name}={shown_text(str(value), 40)!r} is not one of {', '.join(known)}"
            )
    return url.set(query=query)


# Query options that carry a secret (asyncpg takes ?password= as well as user:password@).
_SECRET_OPTION = re.compile(r"pass|secret|token|key", re.IGNORECASE)
_OPTION = re.compile(r"([?&]([^=&]*)=)([^&]*)")


def _without_password(value: str) -> str:
    scheme, _, rest = value.partition("://")
    if "@" in rest:  # the last @: a password may hold @, ? or / (hiding too much is safe)
        credentials, _, host = rest.rpartition("@")
        rest = f"{credentials.split(':', 1)[0]}:***@{host}"
    rest = _OPTION.sub(
        lambda m: m[1] + "***" if _SECRET_OPTION.search(m[2]) else m[0],
        rest,
    )
    return f"{scheme}://{rest}"


def shown_url(engine: AsyncEngine) -> str:
    """An SQLite database's file; PostgreSQL's URL without its password (nor a secret
    option). For messages."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return url.database or ""
    hidden = {name: "***" for name in url.query if _SECRET_OPTION.search(name)}
    shown = url.update_query_dict(hidden) if hidden else url
    return shown.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def engine_for(
    database: str | os.PathLike[str] | AsyncEngine, *, writer: bool = False
) -> AsyncEngine:
    """An engine for ``database``; foreign keys on, and a ``writer``'s SQLite file in WAL mode."""
    if isinstance(database, AsyncEngine):
        return database
    url = database_url(database)
    options: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        # A reader (ipay-links changes) may read while a sync writes.
        options["connect_args"] = {"timeout": 30}
    engine = create_async_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        pragmas = _writer_pragmas if writer else _reader_pragmas
        event.listen(engine.sync_engine, "connect", pragmas)
    return engine


def _reader_pragmas(connection: Any, _: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _writer_pragmas(connection: Any, _: object) -> None:
    cursor = connection.cursor()
    # WAL: a commit survives the process being killed at any point after it, and
    # readers read on while a sync writes. Set by the sync only: a reader changes nothing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    _reader_pragmas(connection, _)


@contextlib.contextmanager
def _file_lock(database: Path, shown: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``DATABASE.sync-lock``, released when the process ends.

    The lock is beside the file the path leads to, links followed: two spellings of one
    database (a symbolic link, ``./``, ``..``) take the same lock.
    """
    real = Path(os.path.realpath(database))
    path = real.with_name(real.name + ".sync-lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except (FileNotFoundError, NotADirectoryError):
        raise ValueError(f"cannot sync into {shown}: no folder {real.parent}") from None
    except PermissionError:
        raise ValueError(f"cannot sync into {shown}: {real.parent} is not writable") from None
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


@contextlib.contextmanager
def database_failures(engine: AsyncEngine) -> Iterator[None]:
    """The driver's and SQLAlchemy's errors as :class:`DatabaseUnavailableError`: one line
    that names the driver's error, never the SQL, nor the URL's password or secret options."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:  # OSError: the server cannot be reached
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        url = engine.url
        secrets = [url.password, *(v for k, v in url.query.items() if _SECRET_OPTION.search(k))]
        with hiding(*(str(secret) for secret in secrets if secret)):
            error = DatabaseUnavailableError(
                f"the database failed: {type(cause).__name__}: {lines[0] if lines else ''}"
            )
        raise error from exc
