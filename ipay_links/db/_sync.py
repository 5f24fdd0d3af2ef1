"""A sync: walk every link, upsert it, record what changed.

The run's life is :mod:`._runs`', the transactions :mod:`._writer`'s, the upserts
:mod:`._store`'s; here they are put together: the lock taken, the schema checked, the
run started or resumed, the walk mirrored, the run finished or left to be resumed.
"""

from __future__ import annotations

import asyncio

import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from .._core.checkpoint import Checkpoint, Consistency, WalkStats
from .._core.protocol import Query, make_query
from .._io.client import Client, Statuses
from .._io.pagination import PageWalk
from ..errors import shown
from ._engine import database_failures, engine_for, shown_url, sync_lock
from ._runs import Run, end_run, finish_run, prepare, start_run
from ._writer import PageWriter

__all__ = ["SyncReport", "sync"]


@attrs.frozen
class SyncReport:
    """How a sync ended.

    - ``sync_id``: the run's id in ``sync_runs`` (a resumed run keeps its own).
    - ``resumed``: whether it went on from an earlier run cut short.
    - ``seen``, ``new``, ``changed``: links stored, links not known before, known links
      with at least one field changed (resumed runs count from their start, and count
      again a link stored before and after the cut, at the seam of a list that moved).
    - ``missing``: links a complete, unfiltered sync no longer saw (``None`` when filtered).
    - ``stats``: the walk's :class:`~ipay_links.WalkStats` (of this process's part).
    - ``database``: the database's URL, without its password.
    """

    sync_id: int
    resumed: bool
    seen: int
    new: int
    changed: int
    missing: int | None
    stats: WalkStats
    database: str


async def sync(
    client: Client,
    database: str | AsyncEngine,
    *,
    status: Statuses = None,
    contact: str | None = None,
    link_id: str | None = None,
    per_page: int | None = None,
    concurrency: int = 1,
    consistency: Consistency = "fast",
    restart: bool = False,
) -> SyncReport:
    """Walk every link with ``client`` into ``database``, and record what changed.

    ``database`` is a path to an SQLite file, an ``sqlite:///`` or ``postgresql://`` URL,
    or an ``AsyncEngine`` (left open); the tables are created on first use. ``status``,
    ``contact`` and ``link_id`` are InstantPay's filters (a filtered sync marks nothing
    missing); ``per_page``, ``concurrency`` and ``consistency`` are those of
    :meth:`Client.iter_pages`. An earlier run of the same query cut short (killed, failed,
    interrupted) is resumed, unless ``restart`` (it is then marked abandoned).

    Raises ``ValueError`` or ``TypeError`` for a bad argument (before anything is sent),
    the walk's :class:`~ipay_links.IpayError` when it fails (the run is then left
    ``failed``, to be resumed), and a :class:`~ipay_links.DatabaseError` when the
    database does: ``SyncBusyError`` (another sync is writing it), ``SchemaError`` (a
    newer ipay-links wrote it), ``UnstorableLinkError`` (it cannot hold a link's value),
    ``DatabaseUnavailableError`` (it cannot be reached, or failed).
    """
    query = make_query(per_page=per_page, status=status, contact=contact, link_id=link_id)
    engine = engine_for(database, writer=True)
    try:
        with database_failures(engine):
            async with sync_lock(engine):
                await prepare(engine)
                return await _run(client, engine, query, concurrency, consistency, restart)
    finally:
        if engine is not database:
            await engine.dispose()


async def _run(
    client: Client,
    engine: AsyncEngine,
    query: Query,
    concurrency: int,
    consistency: Consistency,
    restart: bool,
) -> SyncReport:
    run = await start_run(engine, query, restart)
    walk = _walk(client, query, run, concurrency, consistency)
    try:
        async with walk:
            await PageWriter(engine, run.sync_id, run.counts).mirror(walk)
        missing = await finish_run(engine, run.sync_id, query, walk.stats)
    except BaseException as exc:
        state = (
            "interrupted"
            if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
            else "failed"
        )
        await end_run(engine, run.sync_id, state, shown(f"{type(exc).__name__}: {exc}"))
        raise
    return SyncReport(
        sync_id=run.sync_id,
        resumed=run.resumed,
        missing=missing,
        stats=walk.stats,
        database=shown_url(engine),
        **run.counts,
    )


def _walk(
    client: Client, query: Query, run: Run, concurrency: int, consistency: Consistency
) -> PageWalk:
    """The walk of ``query``, or the rest of it from the run's checkpoint."""
    if run.resume is None:
        return client.iter_pages(
            per_page=query.per_page,
            status=query.status,
            contact=query.contact,
            link_id=query.link_id,
            concurrency=concurrency,
            consistency=consistency,
        )
    return client.iter_pages(
        resume=Checkpoint.from_dict(run.resume), concurrency=concurrency, consistency=consistency
    )
