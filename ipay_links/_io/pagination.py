"""The asyncio side of a walk: reads, the prefetch window, cancellation.

What to read and what to hand out is decided by the pure :class:`WalkState`
(``_core/walkstate.py``, where the reasoning that keeps a walk exact is written down);
:class:`PageWalk` carries it out with tasks, and :class:`LinkWalk` hands the pages'
links out one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence

from .._core.checkpoint import Checkpoint, Consistency, WalkStats
from .._core.checks import check_positive
from .._core.protocol import Query
from .._core.walkstate import Read, WalkState
from ..errors import ConsistencyError, IpayError
from ..models import Page, PayoutLink
from .clock import Clock, LoopClock
from .throttle import Throttle

__all__ = ["Checkpoint", "ConsistencyError", "LinkWalk", "PageWalk", "WalkStats"]

FetchPage = Callable[[Query, int, Throttle], Awaitable[Page]]


class PageWalk:
    """Async iterator over the pages of one query, in page order; see ``_core/walkstate.py``.

    Each page handed out carries only links not handed out before. With
    ``concurrency=N`` up to N pages are requested at once (never more in flight, and
    never a page beyond the 2N after the one being consumed). Use ``async with`` or
    :meth:`aclose` to cancel prefetched requests when leaving early.

    :meth:`Client.iter_pages` makes one; its arguments are the client's to give:

    - ``fetch``: the coroutine function that reads one page,
      ``fetch(query, number, throttle)``; the throttle is the walk's private request gate.
    - ``query``: the :class:`Query` walked.
    - ``start_page=1``: the first page read.
    - ``concurrency=1``: pages requested at once, at most.
    - ``consistency="fast"``: or ``"strict"``, one page at a time (see the README).
    - ``resume=None``: a :class:`Checkpoint` to go on from; pass its ``query`` and
      ``next_page`` as ``query`` and ``start_page`` too.
    - ``clock=None``: what a ``Retry-After`` hold is slept on; the event loop's own
      by default.
    - ``max_records=None`` (a :class:`LinkWalk`'s ``max_items``): keeps it from asking
      for pages those links cannot need.
    - ``counts_records=True``: ``False`` leaves the counting of
      ``stats.records_yielded`` to whoever hands the links out one by one.

    Raises ``TypeError`` or ``ValueError`` for a bad ``start_page``, ``concurrency`` or
    ``consistency``. Iterating raises what ``fetch`` raises, a
    :class:`ResponseFormatError` for a server that breaks the paging rules and a
    :class:`ConsistencyError` when the walk cannot heal.
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
        max_records: int | None = None,
        counts_records: bool = True,
    ) -> None:
        self._state = WalkState(
            query,
            start_page=start_page,
            concurrency=concurrency,
            consistency=consistency,
            resume=resume,
        )
        self._fetch = fetch
        self._throttle = Throttle(
            1 if consistency == "strict" else self._state.concurrency,
            LoopClock() if clock is None else clock,
        )
        self._max_records = max_records
        self._counts_records = counts_records
        self._tasks: dict[int, asyncio.Task[Read]] = {}

    @property
    def query(self) -> Query:
        """The filters and the page size asked for."""
        return self._state.query

    @property
    def concurrency(self) -> int:
        """Pages requested at once, at most."""
        return self._state.concurrency

    @property
    def consistency(self) -> Consistency:
        """``"fast"`` or ``"strict"`` (one page at a time); see the README."""
        return self._state.consistency

    @property
    def stats(self) -> WalkStats:
        """Live progress: totals once known, pages fetched, links handed out, retries."""
        return self._state.stats

    @property
    def checkpoint(self) -> Checkpoint:
        """Where to resume after every page handed out so far."""
        return self._state.checkpoint

    def __aiter__(self) -> AsyncIterator[Page]:
        # An async generator: a loop left with `break` drops it, and asyncio closes it
        # at once, which stops the prefetching (tasks hold the walk itself alive).
        return self._pages()

    async def _pages(self) -> AsyncGenerator[Page, None]:
        try:
            while True:
                try:
                    page = await self.__anext__()
                except StopAsyncIteration:
                    return
                yield page
        except GeneratorExit:
            self.cancel()
            raise

    async def __aenter__(self) -> PageWalk:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel and await the requests still in flight. The walk can go on afterwards."""
        tasks = list(self._tasks.values())
        self.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def cancel(self) -> None:
        """Cancel the requests still in flight, without waiting for them to end."""
        tasks, self._tasks = self._tasks, {}
        for task in tasks.values():
            task.cancel()

    def __del__(self) -> None:
        # A walk dropped mid-way (a `break` out of `async for`) stops its prefetching.
        if getattr(self, "_tasks", None):  # not set if __init__ refused its arguments
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                self.cancel()

    async def __anext__(self) -> Page:
        state = self._state
        while not state.done:
            read = await self._take(state.next_number())
            try:
                page = state.judge(read)
            except IpayError:  # a server that breaks the rules, or a walk that cannot heal
                await self.aclose()
                raise
            if page is not None:
                if self._counts_records:
                    self.stats.records_yielded += len(page.records)
                return page
        await self.aclose()
        raise StopAsyncIteration

    async def _read(self, number: int) -> Read:
        sent = self._state.stamp()
        try:
            page = await self._fetch(self.query, number, self._throttle)
        finally:  # retries and waits count also when the page failed in the end
            self.stats.retries = self._throttle.retries
            self.stats.throttle_waits = self._throttle.waits
        self.stats.pages_fetched += 1
        return Read(number, page, sent, self._state.stamp())

    async def _take(self, number: int) -> Read:
        """The read of page ``number``: kept, prefetched, or made now."""
        if (kept := self._state.take_kept(number)) is not None:
            return kept
        self._prefetch(number)
        task = self._tasks.pop(number, None)
        try:
            return await (task if task is not None else self._read(number))
        except IpayError:
            await self.aclose()  # pages before this one are out; nothing stays in flight
            raise
        except BaseException:  # cancelled: stop the prefetching too
            self.cancel()
            raise

    def _prefetch(self, number: int) -> None:
        """Start reading the pages after ``number`` that the walk may read ahead.

        The next request leaves as soon as an answer frees a slot, not when the
        consumer has caught up with it (so a walk keeps the server busy while it decodes).
        """
        for ahead in self._state.ahead(number, self._max_records):
            if ahead not in self._tasks and not self._state.is_kept(ahead):
                task = asyncio.create_task(self._read(ahead))
                # A walk dropped unawaited may never ask for this page: its failure is
                # seen here, so that asyncio never reports it as never retrieved.
                task.add_done_callback(_seen)
                self._tasks[ahead] = task


def _seen(task: asyncio.Task[Read]) -> None:
    if not task.cancelled():
        task.exception()


class LinkWalk:
    """Async iterator over every payout link of a :class:`PageWalk`, at most ``max_items``.

    ``pages`` is the :class:`PageWalk` it draws from (kept as :attr:`pages`);
    ``max_items=None`` sets no limit. Make the walk with
    ``max_records=max_items, counts_records=False`` (``Client.iter_links`` does):
    this walk counts the links as it yields them. Raises ``TypeError`` or
    ``ValueError`` for a ``max_items`` that is not an int of 1 or more.

    A page is fetched only when its first link is asked for (with ``concurrency=1``):
    a consumer that stops after five links has caused one request. Leaving a loop
    and starting another goes on where the first stopped.
    """

    def __init__(self, pages: PageWalk, *, max_items: int | None = None) -> None:
        self.pages = pages
        self.max_items = None if max_items is None else check_positive("max_items", max_items)
        self._handing_one = False
        self._records: Sequence[PayoutLink] = ()
        self._index = 0
        self._checkpoint = pages.checkpoint

    @property
    def stats(self) -> WalkStats:
        """The live progress of the walk (:class:`WalkStats`)."""
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
                        self.pages.cancel()
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
