"""The writer: the pages of a walk committed by a task of its own while the walk reads on.

Each transaction holds whole pages: their upserts, their change rows and the run's
checkpoint after the last of them, so a sync killed at any point leaves the database as it
was after some whole page. The writer takes every page that arrived while it wrote the
previous ones (up to :data:`BATCH_LINKS` links): one page per transaction when the server
is the slower side, fewer, larger transactions when the database is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from .._core.checkpoint import Checkpoint
from .._io.pagination import PageWalk
from ..errors import UnstorableLinkError
from ..models import PayoutLink
from ._runs import now
from ._schema import runs
from ._store import store, unstorable

__all__ = ["BATCH_LINKS", "QUEUED_LINKS", "PageWriter"]

# A transaction holds whole pages, BATCH_LINKS links and one page at most; the queue
# QUEUED_LINKS links (or one page).
BATCH_LINKS = 3000
QUEUED_LINKS = 6000

# A page handed out by the walk and the checkpoint after it; None once the walk is over.
_Item = tuple[Sequence[PayoutLink], Checkpoint] | None


def _size(item: _Item) -> int:
    return 0 if item is None else len(item[0])


class PageWriter:
    """Writes the pages of a walk into the mirror, in a task of its own."""

    def __init__(self, engine: AsyncEngine, sync_id: int, counts: dict[str, int]) -> None:
        self._engine = engine
        self._sync_id = sync_id
        self._counts = counts  # updated once a transaction has committed
        # The pages waiting for the writer; at most QUEUED_LINKS links (or one page).
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
        return self._queued == 0 or self._queued + _size(item) <= QUEUED_LINKS

    def _enqueue(self, item: _Item) -> None:
        self._queued += _size(item)
        self._queue.put_nowait(item)

    async def _put_when_room(self, item: _Item) -> None:
        async with self._room:
            await self._room.wait_for(lambda: self._fits(item))
            self._enqueue(item)

    async def _take(self) -> list[_Item]:
        """The pages waiting (at least one), up to BATCH_LINKS links; the end marker last."""
        batch = [await self._queue.get()]
        size = _size(batch[0])
        while batch[-1] is not None and size < BATCH_LINKS and not self._queue.empty():
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
                new, changed = await store(conn, records, self._sync_id, now())
            except Exception as exc:
                refused = unstorable(records, conn.dialect.name)
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
