"""Walks over every page of a query: concurrent, in order, exact under a changing data set.

How a walk stays exact (the proof is in the README, "How exact is a walk"):

- The walk keeps a *coverage*: a position ``C`` in the server's list such that every
  link that stays in the result set and stood before ``C`` when the coverage was
  last read has been yielded, with the ``total_records`` of that read.
- New links arrive at the head and links leave anywhere, so between two reads a
  link's position moves by at least the change of ``total_records`` (``ΔT``). A read
  made after the coverage's read therefore keeps ``C - max(0, -ΔT)`` covered, and
  extends the coverage to the end of its page if its page starts inside it. If it
  starts beyond, links may have slid back into pages already read: the page holding
  the coverage's end is read again (healing) before going on.
- Reads that overlap in time (concurrent ones) have no order to reason with. One
  read with the same ``total_records`` as the coverage is taken to see the same data
  (true when links are only created, or only removed, between the two); one with
  another total is read again, after the coverage's read.
- Links are deduplicated by ``link_id`` over a window of recent pages: first
  sighting wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from operator import attrgetter
from typing import Any, Literal

import attrs
import cattrs

from ._clock import Clock, LoopClock
from ._throttle import Throttle
from .errors import IpayError, ResponseFormatError
from .models import Page, PayoutLink
from .protocol import Query, check_page, check_positive

__all__ = ["Checkpoint", "ConsistencyError", "LinkWalk", "PageWalk", "WalkStats"]

logger = logging.getLogger("ipay_links")

FetchPage = Callable[[Query, int, Throttle], Awaitable[Page]]
Consistency = Literal["fast", "strict"]
CONSISTENCY_LEVELS = ("fast", "strict")
# Healing reads in a row that may pass without the coverage moving on: when links
# leave the list between every two reads, no read can prove a page complete.
MAX_STALLED_HEALS = 8


class ConsistencyError(IpayError):
    """The data set changed faster than the walk could heal; resume from the checkpoint."""


@attrs.frozen
class Checkpoint:
    """Where a walk stands, after the last page it handed out in full.

    Pass it as ``resume=`` to continue exactly (the links of the last page are kept
    to drop what would be seen again); ``start_page=checkpoint.next_page`` with the
    same filters also resumes, without that protection at the seam.
    ``next_page`` is ``None`` once the walk is over.
    """

    next_page: int | None
    query: Query
    page_size: int | None = None
    total_records: int | None = None
    seen: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back."""
        result: dict[str, Any] = _PLAIN.unstructure(self)
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        try:
            return _PLAIN.structure(data, cls)
        except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None


_PLAIN = cattrs.Converter()


@attrs.define
class WalkStats:
    """Live progress of a walk; ``total_*`` are ``None`` until the first page is read."""

    total_pages: int | None = None
    total_records: int | None = None
    pages_fetched: int = 0
    records_yielded: int = 0
    duplicates_dropped: int = 0
    healing_reads: int = 0
    retries: int = 0
    throttle_waits: int = 0


@attrs.frozen
class _Read:
    number: int
    page: Page
    sent_at: float
    received_at: float


_LINK_ID = attrgetter("link_id")


class _RecentIds:
    """The ``link_id``s yielded from the last ``pages`` page numbers: a bounded dedupe window.

    Each id is kept once, under the page it was first yielded from; re-reads of a
    page add to that page's ids, so healing never pushes other pages out.
    """

    def __init__(self, pages: int, initial: tuple[str, ...] = (), number: int = 0) -> None:
        self._keep = pages
        self._by_page: dict[int, set[str]] = {}
        self._ids: set[str] = set()
        self._remember(set(initial), number)

    def fresh(
        self, links: Sequence[PayoutLink], ids: tuple[str, ...], number: int
    ) -> Sequence[PayoutLink]:
        """The links of page ``number`` not seen before (first sighting wins), now remembered.

        ``ids`` are the links' ``link_id``s, in order.
        """
        new = set(ids)
        if len(new) == len(ids) and self._ids.isdisjoint(new):
            self._remember(new, number)  # the common case, at C speed
            return links
        fresh, fresh_ids = [], set()
        for link, link_id in zip(links, ids, strict=True):
            if link_id not in self._ids and link_id not in fresh_ids:
                fresh.append(link)
                fresh_ids.add(link_id)
        self._remember(fresh_ids, number)
        return fresh

    def _remember(self, ids: set[str], number: int) -> None:
        self._ids |= ids
        self._by_page.setdefault(number, set()).update(ids)
        newest = max(self._by_page)
        for old in [n for n in self._by_page if n <= newest - self._keep]:
            self._ids -= self._by_page.pop(old)


class PageWalk:
    """Async iterator over the pages of one query, in page order; see the module's docstring.

    Each page handed out carries only links not handed out before. With
    ``concurrency=N`` up to N pages are requested at once (never more in flight, and
    never a page beyond the 2N after the one being consumed). Use ``async with`` or
    :meth:`aclose` to cancel prefetched requests when leaving early.
    """

    def __init__(
        self,
        fetch: FetchPage,
        query: Query,
        *,
        start_page: int = 1,
        concurrency: int = 1,
        consistency: Consistency = "fast",
        resume: Checkpoint | None = None,
        clock: Clock | None = None,
    ) -> None:
        if consistency not in CONSISTENCY_LEVELS:
            raise ValueError(
                f"consistency must be one of {CONSISTENCY_LEVELS}, not {consistency!r}"
            )
        self._fetch = fetch
        self.query = query
        self.concurrency = check_positive("concurrency", concurrency)
        self.consistency = consistency
        self.stats = WalkStats()
        self._throttle = Throttle(
            1 if consistency == "strict" else self.concurrency,
            LoopClock() if clock is None else clock,
        )
        self._max_records: int | None = None  # a LinkWalk's max_items: no page beyond it
        # Only overlapping reads need the same-total shortcut; a walk of one page at a
        # time reads again instead, and stays exact under any mix of changes.
        self._trusts_equal_totals = consistency == "fast" and self.concurrency > 1
        self._start = check_page(start_page)
        self._page_size = resume.page_size if resume else None
        self._coverage: int | None = None
        self._total = resume.total_records if resume else None
        self._anchor = 0.0  # when the coverage was read; everything sent since is later
        self._done = resume is not None and resume.next_page is None
        self._force_next: int | None = None
        self._furthest = 0  # the furthest coverage so far
        self._stalled = 0  # healing reads since the coverage last moved past it
        self._counts_records = True
        self._tasks: dict[int, asyncio.Task[_Read]] = {}
        self._kept: dict[int, _Read] = {}
        self._last_ids: tuple[str, ...] = resume.seen if resume else ()
        self._last_number: int | None = None
        self._recent = _RecentIds(1)
        self._checkpoint = Checkpoint(
            next_page=self._start,
            query=query,
            page_size=self._page_size,
            total_records=self._total,
            seen=self._last_ids,
        )

    @property
    def checkpoint(self) -> Checkpoint:
        """Where to resume after every page handed out so far."""
        return self._checkpoint

    def __aiter__(self) -> PageWalk:
        return self

    async def __aenter__(self) -> PageWalk:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel and await the requests still in flight. The walk can go on afterwards."""
        tasks = list(self._tasks.values())
        self._cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _cancel_all(self) -> None:
        tasks, self._tasks = self._tasks, {}
        for task in tasks.values():
            task.cancel()

    def __del__(self) -> None:
        # A walk dropped mid-way (a `break` out of `async for`) stops its prefetching.
        if getattr(self, "_tasks", None):  # not set if __init__ refused its arguments
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                self._cancel_all()

    async def __anext__(self) -> Page:
        while not self._done:
            read = await self._take(self._next_number())
            self._force_next = None
            try:
                page = self._judge(read)
            except IpayError:  # a server that breaks the rules, or a walk that cannot heal
                await self.aclose()
                raise
            if page is not None:
                if self._counts_records:
                    self.stats.records_yielded += len(page.records)
                return page
        await self.aclose()
        raise StopAsyncIteration

    # -- reading -------------------------------------------------------------------

    def _next_number(self) -> int:
        if self._force_next is not None:
            return self._force_next
        if self._coverage is None or self._page_size is None:
            return self._start
        return self._coverage // self._page_size + 1

    async def _read(self, number: int) -> _Read:
        sent_at = time.monotonic()
        try:
            page = await self._fetch(self.query, number, self._throttle)
        finally:  # retries and waits count also when the page failed in the end
            self.stats.retries = self._throttle.retries
            self.stats.throttle_waits = self._throttle.waits
        self.stats.pages_fetched += 1
        return _Read(number, page, sent_at, time.monotonic())

    async def _take(self, number: int) -> _Read:
        """The read of page ``number``: kept, prefetched, or made now."""
        if (kept := self._kept.pop(number, None)) is not None:
            return kept
        self._prefetch(number)
        task = self._tasks.pop(number, None)
        try:
            return await (task if task is not None else self._read(number))
        except IpayError:
            await self.aclose()  # pages before this one are out; nothing stays in flight
            raise
        except BaseException:  # cancelled: stop the prefetching too
            self._cancel_all()
            raise

    def _prefetch(self, number: int) -> None:
        """Start the pages after ``number`` in the window, up to the last page known.

        The window is 2N pages: the throttle keeps N requests in flight, and the next
        request leaves as soon as an answer frees a slot, not when the consumer has
        caught up with it (so a walk keeps the server busy while it decodes).
        """
        if self.consistency == "strict" or self.concurrency == 1:
            return
        window = 2 * self.concurrency
        if self._page_size is None or self._total is None:
            # Nothing read yet: ask for the next N - 1 pages beside this one, before the
            # first answer tells how many there are. Waiting for it would cost a whole
            # round trip; a result of fewer pages costs some requests that come back empty.
            last, window = number + self.concurrency - 1, self.concurrency
        else:
            last = -(-self._total // self._page_size)
        if self._max_records is not None:
            left = max(1, self._max_records - self.stats.records_yielded)
            last = min(last, number - 1 + -(-left // (self._page_size or self.query.per_page)))
        for ahead in range(number + 1, min(number + window, last + 1)):
            if ahead not in self._tasks and ahead not in self._kept:
                self._tasks[ahead] = asyncio.create_task(self._read(ahead))

    # -- judging -------------------------------------------------------------------

    def _judge(self, read: _Read) -> Page | None:
        """Accept ``read`` (the page to hand out, maybe empty), or heal and return ``None``."""
        page, number = read.page, read.number
        total = page.meta.total_records
        self._check_page_number(read)
        covered, page_size = self._begin(read)
        start = (number - 1) * page_size
        known = self._total if self._total is not None else total
        if not page.records:
            if covered >= known or number == 1:
                return self._accept(read, covered, start)
            # "No Record Found" tells no total: links expected here slid back. The
            # page before, read again, tells the new total.
            self._force_next = number - 1
            self._heal(read, "no links where more were expected")
            return None
        self.stats.total_records, self.stats.total_pages = total, page.meta.total_pages
        ordered = read.sent_at >= self._anchor
        if total == known and (ordered or self._trusts_equal_totals):
            coverage = covered
        elif ordered:
            # Every link that stays moved by at least ΔT when new links come at the
            # head; but a link can also enter the set in the middle (a status filter),
            # so a growing total proves nothing: only a drop moves the coverage back.
            coverage = max(0, covered - max(0, known - total))
        else:
            self._heal(read, f"it was read beside a read with {known} links, not after it")
            return None
        if start > coverage:
            self._coverage, self._total = coverage, total
            self._anchor = max(self._anchor, read.received_at)
            if self._trusts_equal_totals:  # only then can this read be taken later
                self._kept[number] = read
            self._heal(read, f"{known - total} links left the list since the pages before")
            return None
        return self._accept(read, coverage, start)

    def _begin(self, read: _Read) -> tuple[int, int]:
        """The coverage and the server's page size, set from the walk's first read."""
        if self._coverage is not None and self._page_size is not None:
            return self._coverage, self._page_size
        if self._page_size is None:
            self._page_size = _page_size(read, self.query.per_page)
        self._recent = _RecentIds(self.concurrency + 2, self._last_ids, read.number - 1)
        self._coverage = (read.number - 1) * self._page_size
        if self._total is None:
            self._total = read.page.meta.total_records
        return self._coverage, self._page_size

    def _accept(self, read: _Read, coverage: int, start: int) -> Page | None:
        page = read.page
        inner = page.records and start + len(page.records) < page.meta.total_records
        if inner and len(page.records) != self._page_size:
            raise ResponseFormatError(
                f"page {read.number} has {len(page.records)} links where the server "
                f"pages by {self._page_size}"
            )
        ids = tuple(map(_LINK_ID, page.records))
        # Links standing before the coverage were handed out already, or were created
        # since: either way they are not handed out again.
        covered = max(0, coverage - start)
        if covered:
            fresh = self._recent.fresh(page.records[covered:], ids[covered:], read.number)
        else:
            fresh = self._recent.fresh(page.records, ids, read.number)
        self.stats.duplicates_dropped += len(page.records) - len(fresh)
        self._coverage = max(coverage, start + len(page.records))
        if self._coverage > self._furthest:
            self._furthest, self._stalled = self._coverage, 0
        if page.records:  # an empty answer tells no total
            self._total = page.meta.total_records
            self._last_ids = ids
            self._last_number = read.number
        self._anchor = max(self._anchor, read.received_at)
        self._done = not page.records or self._coverage >= (self._total or 0)
        self._checkpoint = Checkpoint(
            next_page=None if self._done else self._next_number(),
            query=self.query,
            page_size=self._page_size,
            total_records=self._total,
            seen=self._last_ids,
        )
        if not fresh:
            return None
        return page if fresh is page.records else attrs.evolve(page, records=tuple(fresh))

    def _heal(self, read: _Read, why: str) -> None:
        self.stats.healing_reads += 1
        self._stalled += 1
        next_number = self._next_number()
        logger.warning(
            "page %d: %s; reading page %d again (healing read %d)",
            read.number,
            why,
            next_number,
            self.stats.healing_reads,
        )
        if self._stalled > MAX_STALLED_HEALS:
            raise ConsistencyError(
                f"the list changed between every two reads around page {read.number} "
                f"({self._stalled} healing reads in a row): no read could prove the pages "
                "before it complete; resume from the checkpoint when it is quieter"
            )

    def _check_page_number(self, read: _Read) -> None:
        page = read.page
        if not page.records:
            return
        if page.meta.current_page != read.number:
            raise ResponseFormatError(
                f"asked for page {read.number}, the server answered page "
                f"{page.meta.current_page}: it does not honour pageNumber"
            )
        last = self._last_ids
        same = (
            self._last_number is not None  # unknown after a resume
            and read.number != self._last_number
            and last[:1] == (page.records[0].link_id,)
            and tuple(map(_LINK_ID, page.records)) == last
        )
        if same and page.meta.total_records == self._total:
            raise ResponseFormatError(
                f"page {read.number} holds the same links as the page before it: "
                "the server does not honour pageNumber"
            )


def _page_size(read: _Read, asked: int) -> int:
    """The server's page size: its own word wins over what was asked for."""
    page = read.page
    meta = page.meta
    if read.number > 1 and meta.record_from is not None and meta.record_from > 1:
        return (meta.record_from - 1) // (read.number - 1)
    if page.records and read.number < meta.total_pages:
        return len(page.records)
    return max(asked, len(page.records))


class LinkWalk:
    """Async iterator over every payout link of a :class:`PageWalk`, at most ``max_items``.

    A page is fetched only when its first link is asked for (with ``concurrency=1``):
    a consumer that stops after five links has caused one request. Leaving a loop
    and starting another goes on where the first stopped.
    """

    def __init__(self, pages: PageWalk, *, max_items: int | None = None) -> None:
        self.pages = pages
        pages._counts_records = False  # this walk counts links as it yields them
        self.max_items = None if max_items is None else check_positive("max_items", max_items)
        pages._max_records = self.max_items
        self._handing_one = False
        self._records: Sequence[PayoutLink] = ()
        self._index = 0
        self._checkpoint = pages.checkpoint

    @property
    def stats(self) -> WalkStats:
        return self.pages.stats

    @property
    def checkpoint(self) -> Checkpoint:
        """Where to resume so that no link is lost: after the last page fully yielded."""
        return self._checkpoint

    def __aiter__(self) -> AsyncIterator[PayoutLink]:
        # An async generator: much cheaper per link than an __anext__ coroutine.
        return self._links()

    async def __anext__(self) -> PayoutLink:
        links = self._links()
        try:
            async for link in links:
                return link
        finally:
            # Closed now rather than when collected, and without stopping the
            # prefetching: the next call goes on from the same place.
            self._handing_one = True
            try:
                await links.aclose()
            finally:
                self._handing_one = False
        raise StopAsyncIteration

    async def __aenter__(self) -> LinkWalk:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel and await the requests still in flight."""
        await self.pages.aclose()

    async def _links(self) -> AsyncGenerator[PayoutLink, None]:
        """Yield the links; the position lives on the walk, so a new loop resumes it."""
        stats = self.pages.stats
        while True:
            records, index = self._records, self._index
            end = len(records)
            if self.max_items is not None:
                end = min(end, index + self.max_items - stats.records_yielded)
            while index < end:
                link = records[index]
                index += 1
                self._index = index
                stats.records_yielded += 1
                if index == len(records):
                    self._checkpoint = self.pages.checkpoint
                try:
                    yield link
                except GeneratorExit:  # the loop was left and the walk dropped
                    if not self._handing_one:
                        self.pages._cancel_all()
                    raise
            if self.max_items is not None and stats.records_yielded >= self.max_items:
                await self.pages.aclose()
                return
            try:
                page = await self.pages.__anext__()
            except StopAsyncIteration:
                self._checkpoint = self.pages.checkpoint
                return
            self._records, self._index = page.records, 0
