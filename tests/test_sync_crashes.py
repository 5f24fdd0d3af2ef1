"""Real ``ipay-links sync`` processes SIGKILLed mid-sync, then run again to the end.

The database must end as one uninterrupted sync leaves it: the same links, the same
change rows, the same run, counts included. Each kill point is set by the simulator's
request count: a gate in front of it answers the first K requests of the process and
holds every later one, so the process cannot finish and is killed while it waits (at
once, wherever it is, or once it has committed every page it was answered). Nothing
depends on the machine's speed; the data and its changes are seeded.

Each test runs on an SQLite file and on a real PostgreSQL server (tests/_postgres.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

import ipay_links as il
from ipay_links.db import SyncReport, sync
from ipay_links.db._engine import database_url
from ipay_links.testing import Mutation, Simulator

from ._postgres import PostgresServer
from .conftest import FAST_RETRY

LINKS = 600
PER_PAGE = 50  # 12 pages, 13 once links are inserted
CONCURRENCY = 2
KILLED_RUN = 3  # runs 1 and 2 complete; the third is the one killed
DEADLINE = 60.0  # seconds: nothing waits this long when all goes well


class GatedSimulator(Simulator):
    """The simulator behind a gate: after :meth:`hold_after`, later requests wait.

    A held request never reaches the simulator (its ``request_count`` stays at what it
    answered) and gets a 503 once the gate opens, when its client is long dead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrived = 0
        self._limit: int | None = None
        self.held = asyncio.Event()
        self._open = asyncio.Event()

    def hold_after(self, requests: int) -> None:
        """Answer the next ``requests`` requests, and hold every one after them."""
        self._limit = self.arrived + requests
        self.held, self._open = asyncio.Event(), asyncio.Event()

    def open_gate(self) -> None:
        """Let the held requests go (with a 503), and every later one through."""
        self._limit = None
        self._open.set()

    def make_app(self) -> web.Application:
        app = super().make_app()

        @web.middleware
        async def gate(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            self.arrived += 1
            if self._limit is None or self.arrived <= self._limit:
                return await handler(request)
            self.held.set()
            await self._open.wait()
            return web.Response(status=503)

        app.middlewares.append(gate)
        return app


class Databases:
    """The test's databases: SQLite files in its directory, or databases on the server."""

    def __init__(self, directory: Path, server: PostgresServer | None) -> None:
        self.directory = directory
        self.server = server

    def new(self, name: str) -> str:
        """An empty database; its path or URL."""
        if self.server is None:
            return str(self.directory / f"{name}.db")
        return self.server.new_database()

    def copy(self, source: str, name: str) -> str:
        """A copy of ``source`` (no connection open to it); its path or URL."""
        if self.server is None:
            target = self.new(name)
            with (
                closing(sqlite3.connect(source)) as original,
                closing(sqlite3.connect(target)) as copy,
            ):
                original.backup(copy)
            return target
        original_name = source.rsplit("/", 1)[1]
        self.server.psql(f"CREATE DATABASE {original_name}_{name} TEMPLATE {original_name}")
        return self.server.url_for(f"{original_name}_{name}")


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    if request.param == "sqlite":
        return Databases(tmp_path, None)
    return Databases(tmp_path, request.getfixturevalue("postgres"))


async def query(database: str, statement: str) -> list[dict[str, Any]]:
    engine = create_async_engine(database_url(database))
    try:
        async with engine.connect() as conn:
            return [dict(row._mapping) for row in await conn.execute(sa.text(statement))]
    finally:
        await engine.dispose()


async def killed_run(database: str) -> dict[str, Any] | None:
    found = await query(database, f"SELECT * FROM sync_runs WHERE id = {KILLED_RUN}")  # noqa: S608
    return found[0] if found else None


def next_page(run: dict[str, Any] | None) -> int:
    """The page the run goes on from: its checkpoint's, 1 when it has none."""
    if run is None or run["checkpoint"] is None:
        return 1
    page: int = json.loads(run["checkpoint"])["next_page"]
    return page


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``condition``: what it waits for happens in another process."""
    try:
        async with asyncio.timeout(DEADLINE):
            while not await condition():  # noqa: ASYNC110  # no event crosses processes
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"never happened: {what}")


async def lock_released(database: str) -> None:
    """Wait until the killed sync's lock is gone: PostgreSQL drops it once it sees no client."""
    if "://" not in database:
        return  # a flock ends with the process: released once it was reaped

    async def free() -> bool:
        held = await query(
            database,
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        return bool(held[0]["n"] == 0)

    await until(free, "the dead sync's advisory lock released")


def command(url: str, database: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ipay_links",
        "sync",
        "--base-url",
        url,
        "--db",
        database,
        "--per-page",
        str(PER_PAGE),
        "--concurrency",
        str(CONCURRENCY),
        "-q",
    ]


def environment(sim: Simulator) -> dict[str, str]:
    credentials = sim.credentials
    return os.environ | {
        "IPAY_CLIENT_ID": credentials.client_id,
        "IPAY_CLIENT_SECRET": credentials.client_secret,
        "IPAY_ENDPOINT_IP": credentials.endpoint_ip,
    }


async def launch(sim: Simulator, argv: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv, env=environment(sim), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def run_to_end(sim: Simulator, argv: list[str]) -> tuple[int | None, str, str]:
    """Run ``argv`` to its end: its exit status (-9 when SIGKILLed), stdout and stderr."""
    process = await launch(sim, argv)
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def kill_after(sim: GatedSimulator, database: str, requests: int, settle: bool) -> None:
    """Run ``ipay-links sync`` until it was answered ``requests`` requests, then SIGKILL it.

    With ``settle``, the kill waits until the process has committed every page it can
    (the pages answered before the first one held); without, it lands wherever the
    process is when its next request comes in: decoding, writing, committing.
    """
    assert sim.url is not None
    await lock_released(database)
    start = next_page(await killed_run(database))
    since = sim.request_count
    sim.hold_after(requests)
    process = await launch(sim, command(sim.url, database))
    try:
        held = asyncio.ensure_future(sim.held.wait())
        ended = asyncio.ensure_future(process.wait())
        await asyncio.wait({held, ended}, timeout=DEADLINE, return_when=asyncio.FIRST_COMPLETED)
        held.cancel()
        assert process.returncode is None, "the sync ended before its kill point"
        answered = {seen.page for seen in sim.requests[since:]}
        stuck = min(set(range(start, start + requests + 1)) - answered)
        if settle and stuck > start:

            async def committed() -> bool:
                return next_page(await killed_run(database)) == stuck

            await until(committed, f"pages {start} to {stuck - 1} committed")
    finally:
        if process.returncode is None:
            process.kill()
        _, err = await process.communicate()
        sim.open_gate()
    assert process.returncode == -signal.SIGKILL, err.decode()
    # Killed mid-sync: the run is still "running", at its last whole page or before any.
    run = await killed_run(database)
    assert run is not None and run["state"] == "running"
    assert start <= next_page(run) <= stuck


def edit(sim: Simulator, returning: dict[str, Any]) -> set[str]:
    """The same changes for every test, each kind a sync records; the links changed."""
    rng = random.Random(7)
    links = sim.links
    claimed = rng.sample([link for link in links if link["status"] == "ISSUED"], 20)
    for link in claimed:  # across every page
        link["status"] = "CLAIMED"
    links[100]["amount"] = 4321.5
    links[250]["description"] = None if links[250]["description"] else "Now described"
    links[333]["paymentModes"] = ["VPA", "CREDITCARD"]
    links[404]["contactDetails"] = {**(links[404]["contactDetails"] or {}), "email": "n@x.in"}
    changed = {link["linkId"] for link in [*claimed, *(links[i] for i in (100, 250, 333, 404))]}
    del links[517]  # gone: missing
    links.insert(300, returning)  # back from missing, at its old place
    Mutation.insert(7).apply(links, rng, LINKS)  # new, at the head
    return changed | {returning["linkId"]}


async def snapshot(database: str) -> dict[str, Any]:
    """What must match an uninterrupted sync: times reduced to whether there is one."""
    links = await query(database, "SELECT * FROM payout_links ORDER BY link_id")
    for link in links:
        del link["first_seen_at"], link["last_seen_at"]
        link["missing_since"] = link["missing_since"] is not None
    moment = {"missing_since"}  # its change rows hold the moments as text
    changes = Counter(
        (
            row["sync_id"],
            row["link_id"],
            row["field"],
            (row["old_value"] is not None) if row["field"] in moment else row["old_value"],
            (row["new_value"] is not None) if row["field"] in moment else row["new_value"],
        )
        for row in await query(database, "SELECT * FROM payout_link_changes")
    )
    runs = await query(
        database,
        "SELECT id, query, state, checkpoint, seen, new, changed, missing, error "
        "FROM sync_runs ORDER BY id",
    )
    return {"links": links, "changes": changes, "runs": runs}


async def syncs(client: il.Client, *databases: str) -> list[SyncReport]:
    return [await sync(client, db, per_page=PER_PAGE, concurrency=CONCURRENCY) for db in databases]


# Requests answered before each kill: the first lands on page 1 or 2, the last on page
# 10 or 11 of 13. Each kill is at once, or once every page answered is committed.
KILLS = [(1, False), (3, True), (6, False)]


async def test_sigkill_mid_sync_then_rerun_gives_the_mirror_of_an_uninterrupted_sync(
    databases: Databases,
) -> None:
    sim = GatedSimulator(LINKS, seed=23)
    async with (
        sim.serve() as url,
        il.Client(sim.credentials, base_url=url, retry=FAST_RETRY) as client,
    ):
        reference = databases.new("reference")
        await syncs(client, reference)
        returning = sim.links.pop(300)
        await syncs(client, reference)  # run 2: one link missing
        crashed = databases.copy(reference, "crashed")
        changed = edit(sim, returning)
        (expected,) = await syncs(client, reference)
        assert (expected.sync_id, expected.new, expected.missing) == (KILLED_RUN, 7, 1)
        assert expected.changed == len(changed) > 20  # the scenario is no trivial one
        for requests, settle in KILLS:
            await kill_after(sim, crashed, requests, settle)
        await lock_released(crashed)
        status, out, err = await run_to_end(sim, command(url, crashed))
    assert status == 0, err
    assert out.splitlines()[0] == (
        f"sync {KILLED_RUN} resumed and complete: {expected.seen} links seen, "
        f"{expected.new} new, {expected.changed} changed, {expected.missing} missing"
    )
    assert await snapshot(crashed) == await snapshot(reference)


# `ipay-links sync`, SIGKILLed as it enters finish_run: its last page is committed, the run
# not yet marked complete. No request comes after the last page, so no gate can hold
# the process there: the kill is put in its code.
KILLED_AS_IT_FINISHES = """
import os, signal, sys
import ipay_links.db._sync

async def finish(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

ipay_links.db._sync.finish_run = finish
from ipay_links.cli import main
sys.exit(main(sys.argv[1:]))
"""


async def test_a_sync_killed_after_its_last_page_is_resumed_without_counting_twice(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "mirror.db")
    sim = Simulator(120, seed=3)
    async with sim.serve() as url:
        argv = command(url, database)
        status, _, err = await run_to_end(
            sim, [sys.executable, "-c", KILLED_AS_IT_FINISHES, *argv[3:]]
        )
        assert status == -signal.SIGKILL, err
        (run_1,) = await query(database, "SELECT * FROM sync_runs")
        # Every page committed, the last one's checkpoint saying the walk is over.
        assert (run_1["state"], run_1["seen"]) == ("running", 120)
        assert json.loads(run_1["checkpoint"])["next_page"] is None
        status, out, err = await run_to_end(sim, argv)
    assert status == 0, err
    assert out.splitlines()[0] == (
        "sync 1 resumed and complete: 120 links seen, 120 new, 0 changed, 0 missing"
    )
