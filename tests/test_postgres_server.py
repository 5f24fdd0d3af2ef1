"""The PostgreSQL server the database tests start (``_postgres.py``) works as they expect.

One server for the session, a new database for each test; these check that the
databases are real and independent, that the server is reachable on 127.0.0.1 only,
that SQLAlchemy reaches it through asyncpg with the URL given, and that nothing is
left running once a server's ``with`` block ends.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from ._postgres import (
    PostgresServer,
    postgres_fixture,  # noqa: F401 (the fixture postgres)
    postgres_server,
    postgres_url_fixture,  # noqa: F401 (the fixture postgres_url)
)


def test_databases_are_new_and_independent(postgres: PostgresServer) -> None:
    first, second = postgres.new_database(), postgres.new_database()
    assert first != second
    names = [url.rsplit("/", 1)[1] for url in (first, second)]
    for name in names:
        assert postgres.psql("SELECT 1, current_database()", name) == f"1|{name}\n"
        assert postgres.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", name)
    postgres.psql(
        "CREATE TABLE link (id text PRIMARY KEY); INSERT INTO link VALUES ('a')", names[0]
    )
    assert postgres.psql("SELECT id FROM link", names[0]) == "a\n"
    assert postgres.psql("SELECT to_regclass('link') IS NULL", names[1]) == "t\n"


def test_urls_name_asyncpg_the_superuser_and_loopback(postgres: PostgresServer) -> None:
    pattern = rf"postgresql\+asyncpg://ipay@127\.0\.0\.1:{postgres.port}/(\w+)"
    assert re.fullmatch(pattern, postgres.url)[1] == "postgres"  # type: ignore[index]
    assert re.fullmatch(pattern, postgres.new_database("named_one"))[1] == "named_one"  # type: ignore[index]
    with pytest.raises(ValueError, match="not a plain database name"):
        postgres.new_database("x; DROP DATABASE postgres")
    with pytest.raises(AssertionError, match="already exists"):
        postgres.new_database("named_one")


def test_listens_on_loopback_only(postgres: PostgresServer) -> None:
    settings = (
        "SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories')"
    )
    assert postgres.psql(settings) == "127.0.0.1|\n"
    with socket.create_connection(("127.0.0.1", postgres.port), timeout=5):
        pass
    # All of 127/8 is this machine: a server on every address would answer here too.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", postgres.port), timeout=5).close()


def test_runs_unprivileged(postgres: PostgresServer) -> None:
    data = Path(postgres.psql("SHOW data_directory").strip())
    assert data.stat().st_mode & 0o077 == 0
    if os.geteuid() == 0:
        assert data.stat().st_uid != 0
    else:
        assert data.stat().st_uid == os.geteuid()


async def test_sqlalchemy_reaches_a_new_database_through_asyncpg(postgres_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE mirror (n int)"))
            await connection.execute(text("INSERT INTO mirror VALUES (1), (2)"))
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT sum(n) FROM mirror"))).scalar() == 3
            name = (await connection.execute(text("SELECT current_database()"))).scalar()
    finally:
        await engine.dispose()
    assert postgres_url.endswith(f"/{name}")
    assert name != "postgres"


def test_a_stopped_server_leaves_nothing_running(tmp_path: Path) -> None:
    with postgres_server(tmp_path) as server:
        assert server.psql("SELECT 1") == "1\n"
        data = Path(server.psql("SHOW data_directory").strip())
        pid = int((data / "postmaster.pid").read_text().split()[0])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not (data / "postmaster.pid").exists()
    assert "database system is shut down" in server.log.read_text()
