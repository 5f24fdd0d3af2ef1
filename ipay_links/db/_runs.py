"""A sync run's life in ``sync_runs``: started or resumed, ended (failed, interrupted)
or finished (complete, what it no longer saw marked missing); and the schema checked
before the first run writes anything.

A run is keyed by its query (the filters, as canonical JSON): a later sync of the same
query resumes the last one left unfinished, from its checkpoint, with its counts.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import attrs
from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .._core.checkpoint import WalkStats
from .._core.plain import to_plain
from .._core.protocol import Query
from ..errors import SchemaError, shown
from ._engine import shown_url
from ._schema import SCHEMA_VERSION, changes, links, metadata, runs, settings
from ._store import change_row

__all__ = ["Run", "end_run", "finish_run", "now", "prepare", "start_run"]

logger = logging.getLogger("ipay_links.db")

# A run left in one of these states is resumed by the next sync of its query.
_UNFINISHED = ("running", "failed", "interrupted")


@attrs.frozen
class Run:
    """A run as it starts: its id; whether it resumes an earlier one cut short; its counts
    so far (``seen``, ``new``, ``changed``); the checkpoint to resume from, as saved
    (``None``: the walk starts at page 1)."""

    sync_id: int
    resumed: bool
    counts: dict[str, int]
    resume: dict[str, Any] | None


async def prepare(engine: AsyncEngine) -> None:
    """Create the tables, or check that the schema is one this version knows."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        found = await conn.scalar(select(settings.c.value).where(settings.c.key == "schema"))
        if found is None:
            await conn.execute(insert(settings).values(key="schema", value=str(SCHEMA_VERSION)))
        elif not found.isdigit():
            raise SchemaError(
                f"{shown_url(engine)} holds schema {shown(found, 40)!r}, which no ipay-links "
                "writes: not a mirror this library made",
                found=found,
                supported=SCHEMA_VERSION,
            )
        elif int(found) > SCHEMA_VERSION:
            raise SchemaError(
                f"{shown_url(engine)} holds schema {found}, written by a newer ipay-links "
                f"(this one writes {SCHEMA_VERSION}): upgrade ipay-links",
                found=found,
                supported=SCHEMA_VERSION,
            )
        # Schema 1 is the first: later versions migrate older schemas here.


def _query_key(query: Query) -> str:
    return json.dumps(to_plain(query), sort_keys=True, separators=(",", ":"))


async def start_run(engine: AsyncEngine, query: Query, restart: bool) -> Run:
    """Resume the last unfinished run of ``query`` (abandon it if ``restart``), or start
    a new one; either way it is ``running`` once this returns."""
    key = _query_key(query)
    async with engine.begin() as conn:
        earlier = (
            await conn.execute(
                select(runs)
                .where(and_(runs.c.query == key, runs.c.state.in_(_UNFINISHED)))
                .order_by(runs.c.id.desc())
                .limit(1)
            )
        ).first()
        started = now()
        if earlier is not None and restart:
            await conn.execute(
                update(runs)
                .where(and_(runs.c.query == key, runs.c.state.in_(_UNFINISHED)))
                .values(state="abandoned", ended_at=started)
            )
            earlier = None
        if earlier is None:
            sync_id = await conn.scalar(
                insert(runs)
                .values(started_at=started, query=key, state="running")
                .returning(runs.c.id)
            )
            assert sync_id is not None
            return Run(sync_id, False, {"seen": 0, "new": 0, "changed": 0}, None)
        await conn.execute(update(runs).where(runs.c.id == earlier.id).values(state="running"))
        counts = {"seen": earlier.seen, "new": earlier.new, "changed": earlier.changed}
        resume = None if earlier.checkpoint is None else json.loads(earlier.checkpoint)
        return Run(earlier.id, True, counts, resume)


async def end_run(engine: AsyncEngine, sync_id: int, state: str, error: str) -> None:
    """Leave the run ``failed`` or ``interrupted``, with why; resumable."""
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(runs)
                .where(runs.c.id == sync_id)
                .values(state=state, ended_at=now(), error=error)
            )
    except Exception as exc:  # noqa: BLE001  # the database is gone too: the run stays
        # "running", resumable all the same. One line: the sync's own error follows.
        first_line = str(exc).strip().partition("\n")[0]
        logger.warning(
            "could not record that sync %d ended %s: %s",
            sync_id,
            state,
            shown(f"{type(exc).__name__}: {first_line}"),
        )


async def finish_run(
    engine: AsyncEngine, sync_id: int, query: Query, stats: WalkStats
) -> int | None:
    """Mark the run complete; after an unfiltered sync, what it no longer saw is missing.

    Missing: a link no sync has seen since this one started. A resumed run shares its
    pages with syncs that ran while it was cut short (a filtered one, say), and run ids
    grow with their start: a link last seen by a later run than this one is not missing.
    """
    unfiltered = query.status is None and query.contact is None and query.link_id is None
    moment = now()
    missing: int | None = None
    async with engine.begin() as conn:
        if unfiltered:
            gone = [
                row.link_id
                for row in await conn.execute(
                    select(links.c.link_id).where(
                        and_(links.c.last_sync_id < sync_id, links.c.missing_since.is_(None))
                    )
                )
            ]
            missing = len(gone)
            if gone:
                await conn.execute(
                    insert(changes),
                    [
                        change_row(sync_id, one, "missing_since", None, moment, moment)
                        for one in gone
                    ],
                )
                await conn.execute(
                    update(links)
                    .where(and_(links.c.last_sync_id < sync_id, links.c.missing_since.is_(None)))
                    .values(missing_since=moment)
                )
        await conn.execute(
            update(runs)
            .where(runs.c.id == sync_id)
            .values(
                state="complete",
                ended_at=moment,
                checkpoint=None,
                missing=missing or 0,
                stats=json.dumps(to_plain(stats)),
                error=None,
            )
        )
    return missing


def now() -> datetime:
    return datetime.now(UTC)
