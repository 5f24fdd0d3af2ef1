"""ipay_links.db: the mirror of every link, and what changed, in real databases.

Each test runs on an SQLite file and on a real PostgreSQL server started by the tests
(tests/_postgres.py); the simulator is the server, on loopback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import ipay_links as il
from ipay_links.db import SyncBusyError, changes_since, sync
from ipay_links.db._engine import database_url
from ipay_links.errors import DatabaseUnavailableError, SchemaError
from ipay_links.testing import Fault, Simulator

from .conftest import FAST_RETRY

LINKS = 230


@pytest.fixture
async def served() -> AsyncIterator[tuple[Simulator, il.Client]]:
    simulator = Simulator(LINKS, seed=11)
    async with (
        simulator.serve() as url,
        il.Client(simulator.credentials, base_url=url, retry=FAST_RETRY) as client,
    ):
        yield simulator, client


async def rows(database: str, table: str, order: str) -> list[dict[str, Any]]:
    """Every row of ``table``, as plain values (the mirror's own columns excluded)."""
    engine = create_async_engine(database_url(database))
    try:
        async with engine.connect() as conn:
            result = await conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))  # noqa: S608
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


async def mirrored(database: str) -> dict[str, dict[str, Any]]:
    return {row["link_id"]: row for row in await rows(database, "payout_links", "link_id")}


async def test_a_first_sync_stores_every_link_exactly(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    simulator, client = served
    report = await sync(client, database, concurrency=4)
    assert (report.sync_id, report.resumed) == (1, False)
    assert (report.seen, report.new, report.changed, report.missing) == (LINKS, LINKS, 0, 0)
    stored = await mirrored(database)
    assert sorted(stored) == sorted(record["linkId"] for record in simulator.links)
    for record in simulator.links:
        row = stored[record["linkId"]]
        assert row["status"] == record["status"]
        # Exact: the amount's digits as InstantPay sent them, never a float.
        assert Decimal(str(row["amount"])) == Decimal(str(record["amount"]))
        assert row["last_sync_id"] == 1 and row["missing_since"] is None
    assert await rows(database, "payout_link_changes", "id") == []
    (run,) = await rows(database, "sync_runs", "id")
    assert run["state"] == "complete" and run["seen"] == LINKS and run["checkpoint"] is None
    assert json.loads(run["stats"])["total_pages"] == 3


async def test_a_second_sync_records_each_changed_field_and_the_new_links(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    simulator, client = served
    await sync(client, database)
    claimed = [r for r in simulator.links if r["status"] == "ISSUED"][:3]
    for record in claimed:
        record["status"] = "CLAIMED"
    simulator.links[0]["amount"] = 120.11  # a float on the wire: stored exactly
    gone = simulator.links.pop()  # no longer listed
    simulator.links.insert(0, {**simulator.links[5], "linkId": "f" * 24})
    report = await sync(client, database)
    assert (report.sync_id, report.new, report.missing) == (2, 1, 1)
    found = {
        (c.link_id, c.field, c.old_value, c.new_value)
        async for c in changes_since(database, since_sync=1)
    }
    expected = {(r["linkId"], "status", "ISSUED", "CLAIMED") for r in claimed}
    assert expected <= found
    assert (simulator.links[1]["linkId"], "amount") in {(c[0], c[1]) for c in found}
    (missing,) = [c for c in found if c[1] == "missing_since"]
    assert missing[0] == gone["linkId"] and missing[2] is None
    stored = await mirrored(database)
    assert stored[gone["linkId"]]["missing_since"] is not None  # kept, marked missing
    assert Decimal(str(stored[simulator.links[1]["linkId"]]["amount"])) == Decimal("120.11")
    assert report.changed == len({c[0] for c in found} - {gone["linkId"]})


async def test_a_sync_with_no_change_at_the_server_adds_no_change_row(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    _, client = served
    await sync(client, database, concurrency=3)
    before = await mirrored(database)
    report = await sync(client, database, concurrency=3)
    assert (report.new, report.changed, report.missing) == (0, 0, 0)
    assert await rows(database, "payout_link_changes", "id") == []
    after = await mirrored(database)
    assert {k: {**v, "last_seen_at": None, "last_sync_id": None} for k, v in before.items()} == {
        k: {**v, "last_seen_at": None, "last_sync_id": None} for k, v in after.items()
    }


async def test_a_failed_sync_is_resumed_by_the_next_one_as_the_same_run(
    served: tuple[Simulator, il.Client], database: str, tmp_path: Path
) -> None:
    simulator, client = served
    simulator.inject(Fault.envelope("RPI", "bad request"), page=2)  # permanent: the walk fails
    with pytest.raises(il.ApiError):
        await sync(client, database, per_page=100)
    (run,) = await rows(database, "sync_runs", "id")
    assert run["state"] == "failed" and "RPI" in run["error"]
    assert json.loads(run["checkpoint"])["next_page"] == 2
    assert len(await mirrored(database)) == 100  # page 1, committed whole
    report = await sync(client, database, per_page=100)
    assert (report.sync_id, report.resumed, report.seen, report.new) == (1, True, LINKS, LINKS)
    assert [seen.page for seen in simulator.requests][-2:] == [2, 3]  # page 1 not read again
    assert len(await mirrored(database)) == LINKS


async def test_restart_abandons_the_run_cut_short(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    simulator, client = served
    simulator.inject(Fault.envelope("RPI", "bad request"), page=2)
    with pytest.raises(il.ApiError):
        await sync(client, database, per_page=100)
    report = await sync(client, database, per_page=100, restart=True)
    assert (report.sync_id, report.resumed) == (2, False)
    states = [run["state"] for run in await rows(database, "sync_runs", "id")]
    assert states == ["abandoned", "complete"]


async def test_a_filtered_sync_marks_nothing_missing(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    _, client = served
    await sync(client, database)
    report = await sync(client, database, status="CLAIMED")
    assert report.missing is None
    assert all(row["missing_since"] is None for row in (await mirrored(database)).values())


async def test_a_resumed_sync_marks_nothing_missing_that_a_sync_in_between_saw(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    simulator, client = served
    simulator.inject(Fault.envelope("RPI", "bad request"), page=2)  # once: the walk fails
    with pytest.raises(il.ApiError):
        await sync(client, database, per_page=100)
    # While the unfiltered run waits to be resumed, a filtered sync sees (and stores) some
    # of the links it stored: they were seen, and are no less there for it.
    between = await sync(client, database, status="ISSUED")
    assert between.sync_id == 2 and between.seen > 0
    report = await sync(client, database, per_page=100)
    assert (report.sync_id, report.resumed, report.missing) == (1, True, 0)
    assert all(row["missing_since"] is None for row in (await mirrored(database)).values())
    assert [c async for c in changes_since(database, field="missing_since")] == []
    # Yet a link gone from the server is missing after the next complete sync.
    gone = simulator.links.pop(7)
    assert (await sync(client, database)).missing == 1
    assert (await mirrored(database))[gone["linkId"]]["missing_since"] is not None


@pytest.mark.parametrize(
    "cut_short",
    [
        # (filters, page size, failing page) of two runs, each cut short in turn, then
        # resumed in order. The filtered run's later pages hold links of the unfiltered
        # run's first pages.
        [({"status": "ISSUED"}, 10, 2), ({}, 10, 5)],
        [({}, 20, 3), ({}, 50, 3)],  # two unfiltered runs of different page sizes
    ],
)
async def test_runs_resumed_in_any_order_mark_nothing_missing(
    served: tuple[Simulator, il.Client], database: str, cut_short: list[Any]
) -> None:
    simulator, client = served
    for filters, per_page, failing in cut_short:
        simulator.inject(Fault.envelope("RPI", "bad request"), page=failing)  # once
        with pytest.raises(il.ApiError):
            await sync(client, database, per_page=per_page, **filters)
    # The older run, resumed, touches links the younger one had seen: it must not make
    # them look older than the younger run when that one finishes.
    reports = [await sync(client, database, per_page=p, **f) for f, p, _ in cut_short]
    assert [(r.sync_id, r.resumed) for r in reports] == [(1, True), (2, True)]
    assert reports[-1].missing == 0
    assert all(row["missing_since"] is None for row in (await mirrored(database)).values())


async def test_two_syncs_at_once_never_interleave(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    simulator, client = served
    simulator.pause()
    first = asyncio.create_task(sync(client, database))
    await simulator.wait_for_requests(1)  # the first holds the lock, waiting for page 1
    with pytest.raises(SyncBusyError, match="another ipay-links sync is writing"):
        await sync(client, database)
    simulator.resume()
    report = await first
    assert report.seen == LINKS
    assert len(await rows(database, "sync_runs", "id")) == 1


async def test_a_database_of_a_newer_schema_is_refused(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    _, client = served
    await sync(client, database)
    engine = create_async_engine(database_url(database))
    async with engine.begin() as conn:
        await conn.execute(sa.text("UPDATE ipay_links_settings SET value = '99'"))
    await engine.dispose()
    with pytest.raises(SchemaError, match="schema 99, written by a newer ipay-links") as caught:
        await sync(client, database)
    assert (caught.value.found, caught.value.supported) == ("99", 1)


def test_the_command_line_exits_4_for_a_database_of_a_newer_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipay_links.cli import main

    db = str(tmp_path / "newer.db")
    argv = ["sync", "--simulator", "--simulator-links", "5", "--db", db, "-q"]
    assert main(argv) == 0
    asyncio.run(execute(db, "UPDATE ipay_links_settings SET value = '2'"))
    assert main(argv) == 4
    assert capsys.readouterr().err == (
        f"ipay-links: DatabaseError: {db} holds schema 2, written by a newer ipay-links "
        "(this one writes 1): upgrade ipay-links\n"
    )


def test_bad_databases_are_refused_before_anything_is_sent() -> None:
    for bad, message in [
        ("mysql://u@h/db", "SQLite \\(a file\\) or PostgreSQL"),
        ("sqlite:///:memory:", "in-memory"),
    ]:
        with pytest.raises(ValueError, match=message):
            database_url(bad)
    with pytest.raises(ValueError, match="not a database URL") as caught:
        database_url("postgresql://user:s3cret@host:notaport/db")
    assert "s3cret" not in str(caught.value)


async def test_two_spellings_of_one_sqlite_file_take_one_lock(tmp_path: Path) -> None:
    from ipay_links.db._engine import engine_for, sync_lock

    (tmp_path / "real").mkdir()
    (tmp_path / "elsewhere").symlink_to(tmp_path / "real")
    spellings = [
        tmp_path / "real" / "mirror.db",
        tmp_path / "elsewhere" / "mirror.db",  # through a symbolic link to the folder
        tmp_path / "real" / ".." / "real" / "mirror.db",
    ]
    (tmp_path / "link.db").symlink_to(spellings[0])  # a symbolic link to the file itself
    spellings.append(tmp_path / "link.db")
    first = engine_for(str(spellings[0]), writer=True)
    async with sync_lock(first):
        for other in spellings[1:]:
            engine = engine_for(str(other), writer=True)
            with pytest.raises(SyncBusyError, match="another ipay-links sync is writing"):
                async with sync_lock(engine):
                    pass
            await engine.dispose()
    await first.dispose()
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["mirror.db.sync-lock"]


async def test_a_database_in_no_folder_is_refused_naming_it(
    served: tuple[Simulator, il.Client], tmp_path: Path
) -> None:
    simulator, client = served
    database = tmp_path / "typo" / "mirror.db"
    with pytest.raises(
        ValueError, match=f"cannot sync into .*mirror.db: no folder {tmp_path}/typo"
    ):
        await sync(client, str(database))
    (tmp_path / "file").write_text("")  # a file where the path needs a folder
    with pytest.raises(ValueError, match=f"no folder {tmp_path}/file"):
        await sync(client, str(tmp_path / "file" / "mirror.db"))
    assert simulator.request_count == 0


def test_url_options_the_driver_would_not_take_are_refused() -> None:
    # aiosqlite ignores them: mode=ro would warn, then write all the same.
    with pytest.raises(ValueError, match=r"SQLite URLs take no options \(mode\)"):
        database_url("sqlite:///mirror.db?mode=ro")
    # asyncpg would raise a TypeError from inside its connect().
    with pytest.raises(ValueError, match="PostgreSQL URL options application_name, x are not"):
        database_url("postgresql://h/db?x=1&application_name=nightly&ssl=require")
    url = database_url("postgresql://h/db?sslmode=verify-full")  # libpq's spelling
    assert dict(url.query) == {"ssl": "verify-full"}
    for bad, message in [
        ("postgresql://h/db?sslmode=bogus", "ssl='bogus' is not one of disable, allow"),
        ("postgresql://h/db?target_session_attrs=x", "target_session_attrs='x' is not one of"),
        ("postgresql://h:99999/db", "port 99999 is out of range"),  # not asyncpg's OverflowError
    ]:
        with pytest.raises(ValueError, match=message):
            database_url(bad)
    with pytest.raises(ValueError, match="give sslmode or ssl, not both"):
        database_url("postgresql://h/db?sslmode=require&ssl=disable")
    # Another driver names the same database: the sync uses its own (async) one.
    assert database_url("postgresql+psycopg://u@h/db").drivername == "postgresql+asyncpg"


def test_a_password_given_as_a_url_option_is_never_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ipay_links.cli import main
    from ipay_links.db._engine import _without_password, engine_for, shown_url

    url = "postgresql://ipay@127.0.0.1:1/links?sslmode=disable&password=s3cret"
    assert shown_url(engine_for(url)) == (
        "postgresql+asyncpg://ipay@127.0.0.1:1/links?password=***&ssl=disable"
    )
    assert _without_password("postgresql://u:pw@h:x/db?password=s3cret&a=b") == (
        "postgresql://u:***@h:x/db?password=***&a=b"
    )
    # A ? in the password (a URL that does not parse, so shown as given, but hidden).
    for shown_as in [_without_password("postgresql://u:pa?S3CRET@h:x/db")]:
        assert "S3CRET" not in shown_as and shown_as.startswith("postgresql://u:***@")
    # Nothing listens on port 1: the database cannot be reached, exit 4, no password.
    assert main(["sync", "--simulator", "--simulator-links", "5", "--db", url]) == 4
    err = capsys.readouterr().err
    assert err.startswith("ipay-links: DatabaseError: the database failed: ")
    assert "s3cret" not in err


async def test_a_schema_that_is_no_number_is_refused(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    _, client = served
    await sync(client, database)
    await execute(database, "UPDATE ipay_links_settings SET value = 'v2-beta'")
    with pytest.raises(SchemaError, match="holds schema 'v2-beta', which no ipay-links writes"):
        await sync(client, database)


def test_the_command_line_syncs_and_reports_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipay_links.cli import main

    db = str(tmp_path / "cli.db")
    argv = ["sync", "--simulator", "--simulator-links", "60", "--db", db, "-q"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("sync 1 complete: 60 links seen, 60 new, 0 changed, 0 missing\n")
    # Fewer links at the server: the rest are missing, each a change row.
    assert main([*argv[:3], "50", *argv[4:]]) == 0
    assert "sync 2 complete: 50 links seen, 0 new, 0 changed, 10 missing" in capsys.readouterr().out
    assert main(["changes", "--db", db, "--since", "1", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sync_id,link_id,field,old_value,new_value,seen_at"
    assert len(lines) == 11 and all(",missing_since,," in line for line in lines[1:])
    assert main(["changes", "--db", db, "--field", "status"]) == 0
    assert capsys.readouterr().out == ""


def test_the_command_line_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipay_links.cli import main

    assert main(["changes", "--db", str(tmp_path / "none.db"), "--since", "yesterday"]) == 2
    assert "--since 'yesterday': give a sync id" in capsys.readouterr().err
    assert main(["changes", "--db", str(tmp_path / "typo.db")]) == 2
    said = capsys.readouterr().err
    assert "no database at" in said and said.endswith(".db: run ipay-links sync first\n")
    assert main(["changes", "--db", str(tmp_path)]) == 2  # the library says "database"
    assert (
        capsys.readouterr().err
        == f"ipay-links: error: --db {tmp_path} is a folder: give a file in it\n"
    )
    assert main(["changes", "--db", "postgresql://h/db?sslmode=x"]) == 2
    assert "error: --db: ssl='x' is not one of disable" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists()  # not created by looking
    argv = ["sync", "--simulator", "--db", "mysql://u:pw@h/db"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "SQLite (a file) or PostgreSQL" in err and "pw" not in err


async def test_pages_received_before_the_walk_fails_are_committed(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    simulator, client = served
    simulator.inject(Fault.envelope("RPI", "bad request"), page=5)  # permanent: the walk fails
    with pytest.raises(il.ApiError):
        await sync(client, database, per_page=20, concurrency=4)
    (run,) = await rows(database, "sync_runs", "id")
    assert run["state"] == "failed"
    # Pages 1 to 4 were handed out before page 5's error: committed, and the checkpoint
    # after them, whichever transactions the writer grouped them in.
    assert json.loads(run["checkpoint"])["next_page"] == 5
    assert (run["seen"], len(await mirrored(database))) == (80, 80)
    report = await sync(client, database, per_page=20, concurrency=4)
    assert (report.sync_id, report.seen, report.new) == (1, LINKS, LINKS)


# A trigger that refuses one link: the database fails mid-sync, as a full disk or a
# dropped connection would, at a place the test knows.
REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON payout_links WHEN NEW.link_id = '{link}' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.link_id = '{link}' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON payout_links "
        "FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


async def execute(database: str, *statements: str) -> None:
    engine = create_async_engine(database_url(database))
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


async def test_a_database_failing_mid_sync_fails_the_sync_and_loses_nothing(
    served: tuple[Simulator, il.Client], database: str
) -> None:
    simulator, client = served
    backend = "postgresql" if "://" in database else "sqlite"
    await sync(client, database, link_id="none-such")  # the tables, and an empty run
    refused = simulator.links[150]["linkId"]  # on page 8 of 12
    await execute(database, *(sql.format(link=refused) for sql in REFUSE[backend]))
    with pytest.raises(DatabaseUnavailableError, match="refused by the test") as caught:
        await asyncio.wait_for(sync(client, database, per_page=20, concurrency=4), 60)
    assert isinstance(caught.value.__cause__, sa.exc.DBAPIError)  # the driver's, kept
    run = (await rows(database, "sync_runs", "id"))[-1]
    assert run["state"] == "failed" and "refused by the test" in run["error"]
    # The transaction that held the refused link rolled back whole; every page before it
    # is stored, and the checkpoint says so.
    stored = len(await mirrored(database))
    next_page = 1 if run["checkpoint"] is None else json.loads(run["checkpoint"])["next_page"]
    assert stored == run["seen"] == (next_page - 1) * 20 <= 140
    await execute(database, "DROP TRIGGER refuse" + (" ON payout_links" * (backend != "sqlite")))
    report = await sync(client, database, per_page=20, concurrency=4)
    assert (report.sync_id, report.resumed, report.seen, report.new) == (2, True, LINKS, LINKS)
    assert len(await mirrored(database)) == LINKS


async def test_the_writer_groups_the_pages_waiting_for_it_into_one_transaction() -> None:
    from ipay_links.db import _writer

    written: list[list[int]] = []

    class Recording(_writer.PageWriter):
        async def _write(self, pages: list[tuple[Sequence[il.PayoutLink], Any]]) -> None:
            written.append([len(records) for records, _ in pages])

    nothing: Any = None  # the writer only counts the links and hands the pages on
    writer = Recording(nothing, 1, {})
    size = _writer.BATCH_LINKS // 2 - 100  # three pages pass the limit, two do not
    page: Any = [nothing] * size
    for _ in range(4):  # four pages wait before the writer runs: two transactions
        writer._enqueue((page, nothing))
    writer._enqueue(None)
    await writer._write_all()
    assert written == [[size, size, size], [size]]  # pages whole, up to the limit and one more
    assert writer._queued == 0
