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
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import ipay_links as il
from ipay_links.db import UnstorableLinkError, changes_since, sync
from ipay_links.testing import Simulator, generate_links

from ._postgres import PostgresServer
from .conftest import FAST_RETRY
from .test_hostile import answering
from .test_sync import execute, mirrored, rows

CREDENTIALS = Simulator(1).credentials


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "mirror.db")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    yield server.new_database()


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


async def test_what_sqlite_can_store_it_stores_exactly_and_postgresql_names_what_it_cannot(
    served: tuple[Server, il.Client], database: str
) -> None:
    server, client = served
    nul_link, old_link = server.records[3]["linkId"], server.records[4]["linkId"]
    server.records[3]["purpose"] = "rent\x00for december"
    server.records[4]["activatedAt"] = "0001-01-01 00:00:00"  # before year 1 began in UTC
    if "://" not in database:  # SQLite
        await sync(client, database)
        stored = await mirrored(database)
        assert stored[nul_link]["purpose"] == "rent\x00for december"
        assert stored[old_link]["activated_at"] == "0001-01-01T00:00:00+05:30"
        assert (await sync(client, database)).changed == 0  # read back as the same moment
        return
    with pytest.raises(UnstorableLinkError) as caught:
        await sync(client, database)
    message = str(caught.value)
    assert message == (
        f"link {nul_link!r}: purpose holds a NUL character, which PostgreSQL cannot store in text"
    )
    (run,) = await rows(database, "sync_runs", "id")
    assert run["state"] == "failed" and "NUL character" in run["error"]
    server.records[3]["purpose"] = "rent for december"  # fixed at the server
    with pytest.raises(UnstorableLinkError, match=f"link '{old_link}': activated_at is 0001-"):
        await sync(client, database)
    server.records[4]["activatedAt"] = "2026-01-01 00:00:00"
    report = await sync(client, database)
    assert (report.sync_id, report.resumed, report.new) == (1, True, 5)


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
