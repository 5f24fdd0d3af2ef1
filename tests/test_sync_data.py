"""What InstantPay may send that a database may not take: the mirror stores it exactly,
or the sync fails naming the link and the field, never with an internal error.

A server of the test's own, on loopback, answers one page whose JSON text it writes
itself (``100.50`` stays ``100.50`` on the wire); the databases are real, as in
tests/test_sync.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import ipay_links as il
from ipay_links.db import UnstorableLinkError, changes_since, sync
from ipay_links.errors import NotSyncedError
from ipay_links.testing import Simulator, generate_links

from ._postgres import PostgresServer
from .conftest import FAST_RETRY
from .test_hostile import answering
from .test_sync import execute, mirrored, rows

CREDENTIALS = Simulator(1).credentials


class Server:
    """One page of ``records``; an ``"amount"`` that is a string goes out as a bare number
    of those very digits. ``fail`` answers an error envelope instead."""

    def __init__(self, count: int) -> None:
        self.records: list[dict[str, Any]] = generate_links(count, seed=5)
        self.fail = False

    def body(self) -> str:
        if self.fail:
            return json.dumps(
                {"statuscode": "RPI", "status": "bad", "data": None, "ipay_uuid": "u"}
            )
        numbers: dict[str, str] = {}
        records = []
        for index, record in enumerate(self.records):
            if isinstance(record["amount"], str):
                numbers[f"@{index}@"] = record["amount"]
                record = {**record, "amount": f"@{index}@"}
            records.append(record)
        meta = {
            "totalPages": 1,
            "currentPage": 1,
            "totalRecords": len(records),
            "recordsOnCurrentPage": len(records),
            "recordFrom": 1,
            "recordTo": len(records),
        }
        envelope = {
            "statuscode": "TXN",
            "status": "ok",
            "data": {"meta": meta, "records": records},
            "ipay_uuid": "u-1",
        }
        text = json.dumps(envelope)
        for placeholder, digits in numbers.items():
            text = text.replace(f'"{placeholder}"', digits)
        return text


@pytest.fixture
async def served() -> AsyncIterator[tuple[Server, il.Client]]:
    server = Server(5)

    async def handle(_: web.Request) -> web.Response:
        return web.Response(text=server.body(), content_type="application/json")

    async with (
        answering(handle) as url,
        il.Client(CREDENTIALS, base_url=url, retry=FAST_RETRY) as client,
    ):
        yield server, client


async def test_an_amount_written_with_other_digits_is_a_change(
    served: tuple[Server, il.Client], database: str
) -> None:
    server, client = served
    server.records[0]["amount"] = "100.50"
    await sync(client, database)
    server.records[0]["amount"] = "100.5"  # the same number of rupees, not the same text
    report = await sync(client, database)
    assert report.changed == 1
    found = [(c.field, c.old_value, c.new_value) async for c in changes_since(database)]
    assert found == [("amount", "100.50", "100.5")]
    assert str((await mirrored(database))[server.records[0]["linkId"]]["amount"]) == "100.5"
    assert (await sync(client, database)).changed == 0  # and then no change again


async def test_change_rows_hold_moments_in_utc_old_and_new_alike(
    served: tuple[Server, il.Client], database: str
) -> None:
    server, client = served
    server.records[1]["expiredAt"] = "2026-12-01 09:30:00"  # Indian time, as InstantPay
    await sync(client, database)
    server.records[1]["expiredAt"] = "2026-12-02 05:30:00"
    await sync(client, database)
    (change,) = [c async for c in changes_since(database)]
    assert (change.field, change.old_value, change.new_value) == (
        "expired_at",
        "2026-12-01T04:00:00+00:00",
        "2026-12-02T00:00:00+00:00",
    )


async def test_long_ids_and_statuses_are_stored_whole(
    served: tuple[Server, il.Client], database: str
) -> None:
    server, client = served
    long_id, long_status = "L" * 300, "PARTIALLY_CLAIMED_AFTER_A_VERY_LONG_REVIEW_" * 3
    server.records[2].update(linkId=long_id, status=long_status)
    await sync(client, database)
    server.records[2]["status"] = "CLAIMED"
    await sync(client, database)
    assert (await mirrored(database))[long_id]["status"] == "CLAIMED"
    (change,) = [c async for c in changes_since(database)]
    assert (change.link_id, change.old_value) == (long_id, long_status)


# A value PostgreSQL cannot store (the wire's field, its value), and why, as the error
# says it; SQLite stores each as it came.
LONG_ID = "".join(f"{n:x}" for n in random.Random(1).choices(range(16), k=2800))
UNSTORABLE = {
    "nul": (
        "purpose",
        "rent\x00for december",
        "purpose holds a NUL character, which PostgreSQL cannot store in text",
    ),
    "before utc": (
        "activatedAt",
        "0001-01-01 00:00:00",
        "activated_at is 0001-01-01T00:00:00+05:30, which PostgreSQL cannot store as a moment",
    ),
    # UTC's first microsecond: asyncpg would store it as -infinity, and read back no zone.
    "utc's first moment": (
        "activatedAt",
        "0001-01-01 05:30:00",
        "activated_at is 0001-01-01T05:30:00+05:30, which PostgreSQL cannot store as a moment",
    ),
    # Past the primary key's index (2,704 bytes), incompressible: hex digits at random.
    "long id": (
        "linkId",
        LONG_ID,
        "link_id is 2,800 bytes long, and PostgreSQL's index takes keys of up to 2,692",
    ),
    # Just past what an index entry holds with its 12 bytes of headers (2,704 in all).
    "id just too long": (
        "linkId",
        LONG_ID[:2693],
        "link_id is 2,693 bytes long, and PostgreSQL's index takes keys of up to 2,692",
    ),
    "long fraction": (
        "amount",
        "0." + "1" * 16384,
        "amount has 16,384 digits after the point, and PostgreSQL's NUMERIC keeps up to 16,383",
    ),
}


@pytest.mark.parametrize("case", UNSTORABLE)
async def test_what_sqlite_can_store_it_stores_exactly_and_postgresql_names_what_it_cannot(
    served: tuple[Server, il.Client], database: str, case: str
) -> None:
    server, client = served
    field, value, why = UNSTORABLE[case]
    original = server.records[3][field]
    server.records[3][field] = value
    link = server.records[3]["linkId"]
    if "://" not in database:  # SQLite
        await sync(client, database)
        stored = (await mirrored(database))[link]
        if field == "purpose":
            assert stored["purpose"] == value
        elif field == "amount":
            assert stored["amount"] == value  # the text itself, every digit
        elif field == "activatedAt":
            assert datetime.fromisoformat(stored["activated_at"]) == datetime.fromisoformat(
                value.replace(" ", "T") + "+05:30"
            )
        assert (await sync(client, database)).changed == 0  # read back as the same value
        return
    with pytest.raises(UnstorableLinkError) as caught:
        await sync(client, database)
    assert str(caught.value).startswith("link '") and str(caught.value).endswith(f": {why}")
    assert link[:40] in str(caught.value)
    (run,) = await rows(database, "sync_runs", "id")
    assert run["state"] == "failed" and why in run["error"]
    server.records[3][field] = original  # fixed at the server
    report = await sync(client, database)
    assert (report.sync_id, report.resumed, report.new) == (1, True, 5)
    assert (await sync(client, database)).changed == 0


async def test_every_page_before_an_unstorable_link_is_stored(postgres: PostgresServer) -> None:
    from ipay_links.db._engine import engine_for
    from ipay_links.db._writer import PageWriter

    database = postgres.new_database()
    simulator = Simulator(50, seed=3)
    simulator.links[34]["purpose"] = "\x00"  # on page 4 of 5
    async with (
        simulator.serve() as url,
        il.Client(simulator.credentials, base_url=url, retry=FAST_RETRY) as client,
    ):
        report = await sync(client, database, link_id="none-such")  # tables, and run 1
        pages = []
        async with client.iter_pages(per_page=10) as walk:
            async for page in walk:
                pages.append((page.records, walk.checkpoint))
    engine = engine_for(database)
    writer = PageWriter(engine, report.sync_id, {"seen": 0, "new": 0, "changed": 0})
    for records in pages:  # all five wait for the writer: one transaction, refused
        writer._enqueue(records)
    writer._enqueue(None)
    with pytest.raises(UnstorableLinkError, match="purpose holds a NUL character"):
        await writer._write_all()
    await engine.dispose()
    # Written again a page at a time: pages 1 to 3 are kept, and the checkpoint after them.
    assert len(await mirrored(database)) == 30
    (run,) = await rows(database, "sync_runs", "id")
    assert (run["seen"], json.loads(run["checkpoint"])["next_page"]) == (30, 4)


async def test_amounts_are_compared_in_the_digits_both_databases_keep(
    served: tuple[Server, il.Client], database: str
) -> None:
    server, client = served
    # PostgreSQL's NUMERIC writes 1E+3 as 1000 and has no negative zero; the mirror keeps
    # amounts in that form in both databases, so a re-sync sees no change in them.
    for record, digits in zip(server.records, ["-0.00", "1E+3", "1.00E+30", "7.10"], strict=False):
        record["amount"] = digits
    await sync(client, database)
    stored = await mirrored(database)
    # SQLite's column is the text itself; PostgreSQL's a NUMERIC, read as a Decimal.
    raw = [stored[record["linkId"]]["amount"] for record in server.records[:4]]
    amounts = [value if isinstance(value, str) else format(value, "f") for value in raw]
    assert amounts == ["0.00", "1000", "1" + "0" * 30, "7.10"]
    assert (await sync(client, database)).changed == 0
    assert [c async for c in changes_since(database)] == []


def test_the_command_line_exits_4_naming_the_link_postgresql_refused(
    postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipay_links.cli import main

    database = postgres.new_database()
    server = Server(3)
    server.records[1]["contactDetails"]["name"] = "A\x00B"

    async def serve() -> int:
        async def handle(_: web.Request) -> web.Response:
            return web.Response(text=server.body(), content_type="application/json")

        async with answering(handle) as url:
            return await asyncio.to_thread(
                main, ["sync", "--base-url", url, "--db", database, "-q"]
            )

    environ = {
        "IPAY_CLIENT_ID": CREDENTIALS.client_id,
        "IPAY_CLIENT_SECRET": CREDENTIALS.client_secret,
        "IPAY_ENDPOINT_IP": CREDENTIALS.endpoint_ip,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        assert asyncio.run(serve()) == 4
    err = capsys.readouterr().err
    assert err == (
        f"ipay-links: DatabaseError: the database refused a link: link "
        f"{server.records[1]['linkId']!r}: contact_name holds a NUL character, which "
        "PostgreSQL cannot store in text\n"
    )


async def test_a_run_that_cannot_be_recorded_as_failed_logs_one_line(
    served: tuple[Server, il.Client], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, client = served
    database = str(tmp_path / "mirror.db")
    await sync(client, database)
    # The database fails the run's last update, as a server gone away would.
    await execute(
        database,
        "CREATE TRIGGER gone BEFORE UPDATE ON sync_runs WHEN NEW.state = 'failed' "
        "BEGIN SELECT RAISE(ABORT, 'server closed the connection'); END",
    )
    server.fail = True
    with caplog.at_level(logging.WARNING, "ipay_links.db"), pytest.raises(il.ApiError):
        await sync(client, database)
    (record,) = caplog.records
    assert record.exc_info is None  # no traceback: the sync's own error says the rest
    assert record.getMessage() == (
        "could not record that sync 2 ended failed: IntegrityError: "
        "(sqlite3.IntegrityError) server closed the connection"
    )
    (_, run) = await rows(database, "sync_runs", "id")
    assert run["state"] == "running"  # resumable all the same


async def test_changes_at_the_ends_of_time_and_of_run_ids(
    served: tuple[Server, il.Client], database: str
) -> None:
    server, client = served
    await sync(client, database)
    server.records[0]["status"] = "CLAIMED"
    await sync(client, database)
    everything = [c async for c in changes_since(database)]
    assert len(everything) == 1
    for since, since_sync, expected in [
        (datetime(1, 1, 1, tzinfo=UTC), None, everything),  # before the first moment
        (datetime.max.replace(tzinfo=UTC), None, []),  # after the last
        (None, 2**70, []),  # no run has so high an id
        (None, -(2**70), everything),
    ]:
        found = [c async for c in changes_since(database, since=since, since_sync=since_sync)]
        assert found == expected, (since, since_sync)


def test_odd_since_values_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipay_links.cli import main

    db = str(tmp_path / "m.db")
    assert main(["sync", "--simulator", "--simulator-links", "5", "--db", db, "-q"]) == 0
    for since, code, said in [
        ("\u00b2", 2, "give a sync id"),  # a digit to str.isdigit, not to int()
        ("99999999999999999999999", 2, "no sync run has so high an id"),
        ("2147483648", 2, "no sync run has so high an id"),
        ("0001-01-01", 0, ""),  # everything
        ("9999-12-31T23:59:59-05:00", 0, ""),  # nothing
    ]:
        assert main(["changes", "--db", db, "--since", since]) == code, since
        assert said in capsys.readouterr().err


async def test_a_mirror_that_is_not_there_is_neither_created_nor_read(tmp_path: Path) -> None:
    from ipay_links.db import count_links

    with pytest.raises(NotSyncedError, match=r"no database at .*absent\.db$"):
        await count_links(str(tmp_path / "absent.db"))
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match=f"^database {tmp_path} is a folder: give a file in it"):
        await count_links(str(tmp_path))
    async with il.Client(CREDENTIALS, base_url="http://127.0.0.1:9") as client:
        with pytest.raises(ValueError, match="is a folder"):
            await sync(client, str(tmp_path))
    assert os.listdir(tmp_path) == []  # no lock file left either


async def test_an_amounts_old_and_new_values_stay_numbers_in_csv(
    served: tuple[Server, il.Client], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ipay_links.cli import main

    server, client = served
    database = str(tmp_path / "m.db")
    server.records[0]["amount"] = "12.50"
    server.records[1]["purpose"] = "fine"
    await sync(client, database)
    server.records[0]["amount"] = "-5"
    server.records[1]["purpose"] = "-5"  # text: a formula to a spreadsheet
    await sync(client, database)
    argv = ["changes", "--db", database, "--format", "csv"]
    assert await asyncio.to_thread(main, argv) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split(",")[2:5] for line in lines] == [
        ["amount", "12.50", "-5"],
        ["purpose", "fine", "'-5"],
    ]
