"""A sync: walk every link, upsert it, record what changed.

Pages are written by a task of their own while the walk reads on. Each transaction holds
whole pages: their upserts, their change rows and the run's checkpoint after the last of
them, so a sync killed at any point leaves the database as it was after some whole page,
and the next sync of the same query goes on from there (same run, same ``sync_id``). The
writer takes every page that arrived while it wrote the previous ones (up to
``_BATCH_LINKS`` links): one page per transaction when the server is the slower side,
fewer, larger transactions when the database is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy import (
    ARRAY,
    Text,
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .._core.checkpoint import Checkpoint, Consistency, WalkStats
from .._core.plain import to_plain
from .._core.protocol import Query, make_query
from .._io.client import Client, Statuses
from .._io.pagination import PageWalk
from ..errors import NotSyncedError, SchemaError, UnstorableLinkError, shown
from ..models import PayoutLink
from ._engine import database_failures, engine_for, shown_url, sync_lock
from ._schema import (
    LINK_FIELDS,
    SCHEMA_VERSION,
    amount_text,
    changes,
    links,
    metadata,
    postgresql_refuses,
    runs,
    settings,
    utc_text,
)

__all__ = ["Change", "SyncReport", "changes_since", "count_links", "sync"]

logger = logging.getLogger("ipay_links.db")


# A run left in one of these states is resumed by the next sync of its query.
_UNFINISHED = ("running", "failed", "interrupted")


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
                await _prepare(engine)
                return await _run(client, engine, query, concurrency, consistency, restart)
    finally:
        if engine is not database:
            await engine.dispose()


async def _prepare(engine: AsyncEngine) -> None:
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


async def _run(
    client: Client,
    engine: AsyncEngine,
    query: Query,
    concurrency: int,
    consistency: Consistency,
    restart: bool,
) -> SyncReport:
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
        now = _now()
        if earlier is not None and restart:
            await conn.execute(
                update(runs)
                .where(and_(runs.c.query == key, runs.c.state.in_(_UNFINISHED)))
                .values(state="abandoned", ended_at=now)
            )
            earlier = None
        if earlier is None:
            sync_id = await conn.scalar(
                insert(runs).values(started_at=now, query=key, state="running").returning(runs.c.id)
            )
            counts = {"seen": 0, "new": 0, "changed": 0}
            resume = None
        else:
            sync_id = earlier.id
            await conn.execute(update(runs).where(runs.c.id == sync_id).values(state="running"))
            counts = {"seen": earlier.seen, "new": earlier.new, "changed": earlier.changed}
            resume = None if earlier.checkpoint is None else json.loads(earlier.checkpoint)
    assert sync_id is not None
    if resume is None:
        walk = client.iter_pages(
            per_page=query.per_page,
            status=query.status,
            contact=query.contact,
            link_id=query.link_id,
            concurrency=concurrency,
            consistency=consistency,
        )
    else:
        walk = client.iter_pages(
            resume=Checkpoint.from_dict(resume), concurrency=concurrency, consistency=consistency
        )
    try:
        async with walk:
            await _Writer(engine, sync_id, counts).mirror(walk)
        missing = await _finish(engine, sync_id, query, walk.stats)
    except BaseException as exc:
        state = (
            "interrupted"
            if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
            else "failed"
        )
        await _end(engine, sync_id, state, shown(f"{type(exc).__name__}: {exc}"))
        raise
    return SyncReport(
        sync_id=sync_id,
        resumed=earlier is not None,
        missing=missing,
        stats=walk.stats,
        database=shown_url(engine),
        **counts,
    )


async def _end(engine: AsyncEngine, sync_id: int, state: str, error: str) -> None:
    """Leave the run ``failed`` or ``interrupted``, with why; resumable."""
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(runs)
                .where(runs.c.id == sync_id)
                .values(state=state, ended_at=_now(), error=error)
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


async def _finish(engine: AsyncEngine, sync_id: int, query: Query, stats: WalkStats) -> int | None:
    """Mark the run complete; after an unfiltered sync, what it no longer saw is missing.

    Missing: a link no sync has seen since this one started. A resumed run shares its
    pages with syncs that ran while it was cut short (a filtered one, say), and run ids
    grow with their start: a link last seen by a later run than this one is not missing.
    """
    unfiltered = query.status is None and query.contact is None and query.link_id is None
    now = _now()
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
                    [_change(sync_id, one, "missing_since", None, now, now) for one in gone],
                )
                await conn.execute(
                    update(links)
                    .where(and_(links.c.last_sync_id < sync_id, links.c.missing_since.is_(None)))
                    .values(missing_since=now)
                )
        await conn.execute(
            update(runs)
            .where(runs.c.id == sync_id)
            .values(
                state="complete",
                ended_at=now,
                checkpoint=None,
                missing=missing or 0,
                stats=json.dumps(to_plain(stats)),
                error=None,
            )
        )
    return missing


def _now() -> datetime:
    return datetime.now(UTC)


def _values(link: PayoutLink) -> tuple[Any, ...]:
    """The link's columns in the order of ``LINK_FIELDS``, the contact flattened."""
    contact = link.contact_details
    return (
        str(link.status),
        link.amount,
        link.purpose,
        link.description,
        None if contact is None else contact.name,
        None if contact is None else contact.email,
        None if contact is None else contact.mobile,
        link.reference_no,
        link.order_id,
        link.url,
        link.qr_url,
        "|".join(link.payment_modes),
        link.verify_bene,
        link.activated_at,
        link.expired_at,
    )


def _text(value: object) -> str | None:
    """A column's value as the text of a change row."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return utc_text(value)  # old and new alike in UTC, whatever zone each came in
    if isinstance(value, Decimal):
        return amount_text(value)  # its digits, as both databases keep them
    return str(value)


def _same(before: object, after: object) -> bool:
    """Whether a field is unchanged: amounts to the digit (100.50 is not 100.5)."""
    if isinstance(before, Decimal) and isinstance(after, Decimal):
        return amount_text(before) == amount_text(after)
    return before == after


def _change(
    sync_id: int, link_id: str, field: str, old: object, new: object, seen_at: datetime
) -> dict[str, Any]:
    return {
        "sync_id": sync_id,
        "link_id": link_id,
        "field": field,
        "old_value": _text(old),
        "new_value": _text(new),
        "seen_at": seen_at,
    }


# The run that saw a link last, as the highest id: a run resumed after a later one saw the
# link leaves the later one's id, which _finish of that later run counts on.
_LATEST = case(
    (links.c.last_sync_id > bindparam("sync_id"), links.c.last_sync_id),
    else_=bindparam("sync_id"),
)
# A changed link: every column again. An unchanged one is only touched (_TOUCH).
_UPDATE = (
    update(links)
    .where(links.c.link_id == bindparam("key"))
    .values(
        {name: bindparam(name) for name in LINK_FIELDS}
        | {
            "last_seen_at": bindparam("last_seen_at"),
            "last_sync_id": _LATEST,
            "missing_since": None,
        }
    )
)
# Built once, the keys bound at execution: 1,000 keys as literals cost more to coerce and
# to key SQLAlchemy's statement cache with than the lookup itself. SQLite's IN list is
# expanded into a parameter per key at every execution; PostgreSQL takes the keys as one
# array (= ANY): one statement, prepared once, and no SQL rendered per key.
_KEYS = {
    "sqlite": links.c.link_id.in_(bindparam("ids", expanding=True)),
    "postgresql": links.c.link_id == func.any(bindparam("ids", type_=ARRAY(Text))),
}
_LOOKUP = {
    backend: select(
        links.c.link_id, *(links.c[name] for name in LINK_FIELDS), links.c.missing_since
    ).where(keys)
    for backend, keys in _KEYS.items()
}
_TOUCH = {
    backend: update(links).where(keys).values(last_seen_at=bindparam("now"), last_sync_id=_LATEST)
    for backend, keys in _KEYS.items()
}
# Links looked up or touched per statement: SQLite allows 32,766 parameters, PostgreSQL
# 32,767; a transaction holds whole pages, _BATCH_LINKS links and one page at most.
_CHUNK = 1000
_BATCH_LINKS = 3000
_QUEUED_LINKS = 6000
_AMOUNT = LINK_FIELDS.index("amount")


# A page handed out by the walk and the checkpoint after it; None once the walk is over.
_Item = tuple[Sequence[PayoutLink], Checkpoint] | None


def _size(item: _Item) -> int:
    return 0 if item is None else len(item[0])


class _Writer:
    """Writes the pages of a walk into the mirror, in a task of its own."""

    def __init__(self, engine: AsyncEngine, sync_id: int, counts: dict[str, int]) -> None:
        self._engine = engine
        self._sync_id = sync_id
        self._counts = counts  # updated once a transaction has committed
        # The pages waiting for the writer; at most _QUEUED_LINKS links (or one page).
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._queued = 0
        self._room = asyncio.Condition()

    async def mirror(self, walk: PageWalk) -> None:
        """Write every page of ``walk``; each page received is committed before an error
        of the walk is raised. A cancelled mirror commits nothing more."""
        writer = asyncio.create_task(self._write_all())
        try:
            try:
                async for page in walk:
                    # The checkpoint as the page is handed out: resume after it.
                    await self._put((page.records, walk.checkpoint), writer)
            except Exception:
                await self._put(None, writer)
                await writer  # commit what was received, then raise the walk's error
                raise
            await self._put(None, writer)
            await writer
        finally:
            if not writer.done():  # cancelled, or the writer failed: nothing more is written
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer

    async def _put(self, item: _Item, writer: asyncio.Task[None]) -> None:
        """Queue ``item`` once there is room; raise the writer's error if it failed."""
        if writer.done():
            writer.result()
            raise RuntimeError("the writer ended before the walk")  # pragma: no cover
        if self._fits(item):
            self._enqueue(item)
            return
        put = asyncio.ensure_future(self._put_when_room(item))
        try:
            await asyncio.wait({put, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not put.done():
                put.cancel()
        if not put.done() or put.cancelled():
            writer.result()  # the writer failed: its error
            raise RuntimeError("the writer ended before the walk")  # pragma: no cover

    def _fits(self, item: _Item) -> bool:
        return self._queued == 0 or self._queued + _size(item) <= _QUEUED_LINKS

    def _enqueue(self, item: _Item) -> None:
        self._queued += _size(item)
        self._queue.put_nowait(item)

    async def _put_when_room(self, item: _Item) -> None:
        async with self._room:
            await self._room.wait_for(lambda: self._fits(item))
            self._enqueue(item)

    async def _take(self) -> list[_Item]:
        """The pages waiting (at least one), up to _BATCH_LINKS links; the end marker last."""
        batch = [await self._queue.get()]
        size = _size(batch[0])
        while batch[-1] is not None and size < _BATCH_LINKS and not self._queue.empty():
            batch.append(self._queue.get_nowait())
            size += _size(batch[-1])
        async with self._room:
            self._queued -= size
            self._room.notify_all()
        return batch

    async def _write_all(self) -> None:
        ended = False
        while not ended:
            batch = await self._take()
            ended = batch[-1] is None
            pages = [item for item in batch if item is not None]
            if pages:
                await self._write(pages)

    async def _write(self, pages: list[tuple[Sequence[PayoutLink], Checkpoint]]) -> None:
        """Commit ``pages`` in one transaction; when the database cannot store a link of
        theirs, commit them a page at a time, so that every page before its own is kept."""
        try:
            await self._commit(pages)
        except UnstorableLinkError:
            if len(pages) == 1:
                raise
            for page in pages:
                await self._commit([page])  # raises at the page that holds the link
            raise

    async def _commit(self, pages: list[tuple[Sequence[PayoutLink], Checkpoint]]) -> None:
        """One transaction: the pages' links and changes, then the checkpoint after them."""
        counts = dict(self._counts)
        async with self._engine.begin() as conn:
            records = [link for page, _ in pages for link in page]
            try:
                new, changed = await _store(conn, records, self._sync_id, _now())
            except Exception as exc:
                refused = _unstorable(records, conn.dialect.name)
                if refused is None:
                    raise
                raise refused from exc
            counts["seen"] += len(records)
            counts["new"] += new
            counts["changed"] += changed
            # The last page's checkpoint says the walk is over (next_page None): a sync
            # killed before it is marked complete resumes straight to the end, never to
            # page 1 with the counts already kept.
            saved = json.dumps(pages[-1][1].to_dict())
            await conn.execute(
                update(runs).where(runs.c.id == self._sync_id).values(checkpoint=saved, **counts)
            )
        self._counts.update(counts)


async def _store(
    conn: AsyncConnection, records: Sequence[PayoutLink], sync_id: int, now: datetime
) -> tuple[int, int]:
    """Upsert ``records``; a change row per field that differs. Returns (new, changed)."""
    latest = {link.link_id: link for link in records}  # a link twice: its last form
    if not latest:
        return 0, 0
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:
        # A plan for the lookups' actual keys, not PostgreSQL's generic plan for prepared
        # statements: made while the table looked empty, that one scans the whole table
        # for every page, and a first sync grows quadratic in the number of links.
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    ids = list(latest)
    known: dict[str, Sequence[Any]] = {}
    lookup, touch = _LOOKUP[conn.dialect.name], _TOUCH[conn.dialect.name]
    for chunk in _chunks(ids):
        found = (await conn.execute(lookup, {"ids": chunk})).all()  # one fetch, not one a row
        known.update((row[0], row) for row in found)
    added: list[tuple[Any, ...]] = []
    touched: list[str] = []
    rewritten: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    for link_id, link in latest.items():
        values = _values(link)
        old = known.get(link_id)
        if old is None:
            added.append((link_id, *values))  # in the order of _NEW
            continue
        # old: link_id, the fields in the order of LINK_FIELDS, missing_since.
        stored: tuple[Any, ...] = tuple(old[1:-1])
        if stored == values and old[-1] is None and _same(stored[_AMOUNT], values[_AMOUNT]):
            touched.append(link_id)  # the nightly case: nothing changed
            continue
        changed_rows += [
            _change(sync_id, link_id, name, before, after, now)
            for name, before, after in zip(LINK_FIELDS, stored, values, strict=True)
            if not _same(before, after)
        ]
        if old[-1] is not None:
            changed_rows.append(_change(sync_id, link_id, "missing_since", old[-1], None, now))
        row = dict(zip(LINK_FIELDS, values, strict=True))
        row.update(key=link_id, last_seen_at=now, sync_id=sync_id)
        rewritten.append(row)
    for chunk in _chunks(touched):
        await conn.execute(touch, {"ids": chunk, "now": now, "sync_id": sync_id})
    if rewritten:
        await conn.execute(_UPDATE, rewritten)
    if changed_rows:
        await conn.execute(insert(changes), changed_rows)
    if added:
        if postgresql:
            # An INSERT has nothing to look up, and a custom plan for every row of an
            # executemany tripled the time PostgreSQL took to store a new link.
            await conn.execute(text("SET LOCAL plan_cache_mode = auto"))
        await _insert_new(conn, added, now, sync_id)
    return len(added), len(rewritten)


# The columns of a new link: its own, in the order _store builds them, then those the
# sync sets, the same for every link of a transaction.
_NEW = ("link_id", *LINK_FIELDS)
_SET = ("first_seen_at", "last_seen_at", "last_sync_id")


async def _insert_new(
    conn: AsyncConnection, rows: list[tuple[Any, ...]], now: datetime, sync_id: int
) -> None:
    """``INSERT`` ``rows`` (values in the order of ``_NEW``) with the driver's executemany.

    SQLAlchemy compiles the statement for the connection's dialect and each column's own
    type converts its values (the same bind processors ``conn.execute`` would apply),
    a column at a time; only its per-row parameter handling is skipped: a dict built and
    read again for every link, measured at about half the cost of storing a new link
    (benchmarks/sync.py).
    """
    dialect = conn.dialect
    names = (*_NEW, *_SET)
    compiled = insert(links).compile(dialect=dialect, column_keys=list(names))
    order = [names.index(name) for name in compiled.positiontup or ()]
    if sorted(order) != list(range(len(names))):  # pragma: no cover  # SQLAlchemy changed
        raise RuntimeError(f"unexpected parameters in {compiled}")
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    columns += [[value] * len(rows) for value in (now, now, sync_id)]
    for index, name in enumerate(names):
        processor = links.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            if name in _SET:  # one value: converted once
                columns[index] = [processor(columns[index][0])] * len(rows)
            else:
                columns[index] = list(map(processor, columns[index]))
    converted = list(zip(*(columns[index] for index in order), strict=True))
    await conn.exec_driver_sql(str(compiled), converted)


# PostgreSQL's B-tree index entries (the primary key's) are at most 2,704 bytes, their own
# 12 bytes of headers included, after compression: a longer id may still fit, so it is
# blamed only when a transaction failed. NUMERIC keeps up to 16,383 digits after the point.
_POSTGRESQL_KEY_BYTES = 2704 - 12
_POSTGRESQL_SCALE = 16383


def _fraction_digits(value: Decimal) -> int:
    """How many digits ``value`` (a finite amount) has after the point."""
    return max(0, -int(value.as_tuple().exponent))


def _unstorable(records: Sequence[PayoutLink], backend: str) -> UnstorableLinkError | None:
    """Why the database cannot store one of ``records`` (which, which field), if it cannot.

    Asked once a transaction has failed, never on the way. SQLite stores every value;
    PostgreSQL's text holds no NUL character, its driver takes no moment UTC cannot hold,
    its NUMERIC no amount past 16,383 digits after the point, and its index no key past
    2,692 bytes once compressed.
    """
    if backend != "postgresql":
        return None
    for link in records:
        names = ("link_id", *LINK_FIELDS)
        for name, value in zip(names, (link.link_id, *_values(link)), strict=True):
            why = None
            if isinstance(value, str) and "\x00" in value:
                why = "holds a NUL character, which PostgreSQL cannot store in text"
            elif (
                isinstance(value, Decimal)
                and (digits := _fraction_digits(value)) > _POSTGRESQL_SCALE
            ):
                why = (
                    f"has {digits:,} digits after the point, and "
                    f"PostgreSQL's NUMERIC keeps up to {_POSTGRESQL_SCALE:,}"
                )
            elif isinstance(value, datetime) and postgresql_refuses(value):
                why = f"is {value.isoformat()}, which PostgreSQL cannot store as a moment"
            if why is not None:
                return UnstorableLinkError(link_id=link.link_id, field=name, reason=why)
    for link in records:
        size = len(link.link_id.encode("utf-8", "surrogatepass"))
        if size > _POSTGRESQL_KEY_BYTES:
            return UnstorableLinkError(
                link_id=link.link_id,
                field="link_id",
                reason=f"is {size:,} bytes long, and PostgreSQL's index takes keys of up to "
                f"{_POSTGRESQL_KEY_BYTES:,}",
            )
    return None


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


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
