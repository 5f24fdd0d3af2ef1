"""Walks over every page of a query: async iterators that carry their own progress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import attrs

from .models import Page, PayoutLink
from .protocol import Query, check_page, check_positive, next_page

__all__ = ["Checkpoint", "LinkWalk", "PageWalk", "WalkStats"]

FetchPage = Callable[[Query, int], Awaitable[Page]]


@attrs.frozen
class Checkpoint:
    """Where a walk stands: pass ``next_page`` as ``start_page`` (with the same query) to resume.

    ``next_page`` is ``None`` once the walk has read its last page.
    """

    next_page: int | None
    query: Query


@attrs.define
class WalkStats:
    """Live progress of a walk; ``total_*`` are ``None`` until the first page is read."""

    total_pages: int | None = None
    total_records: int | None = None
    pages_fetched: int = 0
    records_yielded: int = 0


class PageWalk:
    """Async iterator over the pages of one query, in page order.

    It asks for the next page while that number is at most the ``totalPages`` of
    the page just read, and stops on a page with no records. A page whose fetch
    failed (after its retries) is asked for again if iteration goes on, so a walk
    can be resumed in-process; across processes, use :attr:`checkpoint`.
    """

    def __init__(
        self, fetch: FetchPage, query: Query, *, start_page: int = 1, concurrency: int = 1
    ) -> None:
        self._fetch = fetch
        self.query = query
        self._next: int | None = check_page(start_page)
        # Accepted now; pages are fetched one at a time until the concurrent walk lands.
        self.concurrency = check_positive("concurrency", concurrency)
        self.stats = WalkStats()

    @property
    def checkpoint(self) -> Checkpoint:
        """The next page to read, after every page handed out so far."""
        return Checkpoint(next_page=self._next, query=self.query)

    def __aiter__(self) -> PageWalk:
        return self

    async def __anext__(self) -> Page:
        number = self._next
        if number is None:
            raise StopAsyncIteration
        page = await self._fetch(self.query, number)
        self._next = next_page(number, page)
        self.stats.pages_fetched += 1
        self.stats.total_pages = page.meta.total_pages
        self.stats.total_records = page.meta.total_records
        return page


class LinkWalk:
    """Async iterator over every payout link of a :class:`PageWalk`, at most ``max_items``.

    A page is fetched only when its first link is asked for: a consumer that
    stops after five links has caused one request.
    """

    def __init__(self, pages: PageWalk, *, max_items: int | None = None) -> None:
        self.pages = pages
        self.max_items = None if max_items is None else check_positive("max_items", max_items)
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

    def __aiter__(self) -> LinkWalk:
        return self

    async def __anext__(self) -> PayoutLink:
        stats = self.pages.stats
        if self.max_items is not None and stats.records_yielded >= self.max_items:
            raise StopAsyncIteration
        while self._index >= len(self._records):
            self._records = (await self.pages.__anext__()).records
            self._index = 0
            if not self._records:
                self._checkpoint = self.pages.checkpoint
        link = self._records[self._index]
        self._index += 1
        stats.records_yielded += 1
        if self._index == len(self._records):
            self._checkpoint = self.pages.checkpoint
        return link
