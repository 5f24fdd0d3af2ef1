"""The walk's reasoning as a pure state machine: coverage, healing, deduplication, checkpoints.

No asyncio, no clock, no I/O: :class:`WalkState` is told which page to read next
(:meth:`WalkState.next_number`) and fed each read (:meth:`WalkState.judge`); it
answers the page to hand out, or ``None`` when a page must be read again, and says
when the walk is done. The asyncio driver around it is ``pagination.PageWalk``.

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

Time here is logical: :meth:`WalkState.stamp` numbers the moments a read is sent
and answered, which is all "after" needs to mean.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from operator import attrgetter

import attrs

from ..errors import ConsistencyError, ResponseFormatError
from ..models import Page, PayoutLink
from .checkpoint import CONSISTENCY_LEVELS, Checkpoint, Consistency, WalkStats
from .checks import check_positive
from .protocol import Query, check_page

__all__ = ["MAX_STALLED_HEALS", "Read", "WalkState"]

logger = logging.getLogger("ipay_links")

# Healing reads in a row that may pass without the coverage moving on: when links
# leave the list between every two reads, no read can prove a page complete.
MAX_STALLED_HEALS = 8
# Pages in a row that may bring no link not handed out before. Within the README's
# bounds every page but a healing read brings some; a server that repeats pages
# (whatever totals it claims) brings none, and the walk stops instead of looping.
MAX_BARREN_PAGES = 8

_LINK_ID = attrgetter("link_id")


@attrs.frozen
class Read:
    """Page ``number`` as read: sent at ``sent`` and answered at ``received`` (logical times)."""

    number: int
    page: Page
    sent: int
    received: int


class _RecentIds:
    """The ``link_id``s shown on the last ``pages`` page numbers: a bounded dedupe window.

    A link is handed out on its first sighting only. It is remembered under every page
    it was shown on, and forgotten once none of those is among the last ``pages``: a
    link a server keeps showing (a page repeated) is never handed out again. Re-reads
    of a page add to that page's ids, so healing never pushes other pages out.
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
        shown = set(ids)
        if len(shown) == len(ids) and self._ids.isdisjoint(shown):
            self._remember(shown, number)  # no duplicate at all: at C speed
            return links
        fresh, fresh_ids = [], set()
        for link, link_id in zip(links, ids, strict=True):
            if link_id not in self._ids and link_id not in fresh_ids:
                fresh.append(link)
                fresh_ids.add(link_id)
        self._remember(shown, number)
        return fresh

    def _remember(self, ids: set[str], number: int) -> None:
        self._ids |= ids
        self._by_page.setdefault(number, set()).update(ids)
        newest = max(self._by_page)
        for old in [n for n in self._by_page if n <= newest - self._keep]:
            gone = self._by_page.pop(old)
            for kept in self._by_page.values():
                gone -= kept
            self._ids -= gone


def _page_size(read: Read, asked: int) -> int:
    """The server's page size: its own word wins over what was asked for."""
    page = read.page
    meta = page.meta
    if read.number > 1 and meta.record_from is not None and meta.record_from > 1:
        return (meta.record_from - 1) // (read.number - 1)
    if page.records and read.number < meta.total_pages:
        return len(page.records)
    return max(asked, len(page.records))


class WalkState:
    """What a walk knows, and what it asks for next; see the module's docstring.

    - :meth:`next_number`: the page to hand out next (read it, or take it from
      :meth:`take_kept`); :attr:`done` once there is none.
    - :meth:`judge`: the read of that page, in; out, the page to hand out with only
      the links not handed out before, or ``None`` to go on with :meth:`next_number`
      (a healing read, or a page that brought nothing new). Raises
      :class:`ResponseFormatError` for a server that breaks the rules and
      :class:`ConsistencyError` when the walk cannot heal.
    - :meth:`ahead`: the pages a concurrent walk may read before they are asked for.
    """

    def __init__(
        self,
        query: Query,
        *,
        start_page: int = 1,
        concurrency: int = 1,
        consistency: Consistency = "fast",
        resume: Checkpoint | None = None,
    ) -> None:
        if consistency not in CONSISTENCY_LEVELS:
            raise ValueError(
                f"consistency must be one of {CONSISTENCY_LEVELS}, not {consistency!r}"
            )
        self.query = query
        self.concurrency = check_positive("concurrency", concurrency)
        self.consistency = consistency
        self.stats = WalkStats()
        # Only overlapping reads need the same-total shortcut; a walk of one page at a
        # time reads again instead, and stays exact under any mix of changes.
        self._trusts_equal_totals = consistency == "fast" and self.concurrency > 1
        self._start = check_page(start_page)
        self._page_size = resume.page_size if resume else None
        self._covered: int | None = None  # the coverage: a position in the server's list
        self._total = resume.total_records if resume else None
        self._anchor = 0  # when the coverage was read; everything sent since is later
        self.done = resume is not None and resume.next_page is None
        self._force_next: int | None = None
        self._furthest = 0  # the furthest coverage so far
        self._stalled = 0  # healing reads since the coverage last moved past it
        self._barren = 0  # pages in a row that brought no link not handed out before
        self._kept: dict[int, Read] = {}
        self._last_ids: tuple[str, ...] = resume.seen if resume else ()
        self._last_number: int | None = None
        self._last_total: int | None = None  # the total shown beside _last_ids
        self._recent = _RecentIds(1)
        self._now = 0
        self.checkpoint = Checkpoint(
            next_page=self._start,
            query=query,
            page_size=self._page_size,
            total_records=self._total,
            seen=self._last_ids,
        )

    # -- what to read ----------------------------------------------------------------

    def stamp(self) -> int:
        """The logical time of a read being sent or answered now."""
        self._now += 1
        return self._now

    def next_number(self) -> int:
        """The page to hand out next."""
        if self._force_next is not None:
            return self._force_next
        if self._covered is None or self._page_size is None:
            return self._start
        return self._covered // self._page_size + 1

    def take_kept(self, number: int) -> Read | None:
        """A read of page ``number`` kept from earlier, to judge again instead of reading."""
        return self._kept.pop(number, None)

    def ahead(self, number: int, max_records: int | None = None) -> range:
        """The pages after ``number`` that a concurrent walk may read now.

        A window of 2N pages (N in flight, the next N waiting for a slot), up to the
        last page known; before anything was read, the next N - 1 beside page
        ``number``. With ``max_records``, no page beyond those the links still to
        hand out can need. A strict or one-at-a-time walk never reads ahead.
        """
        if self.consistency == "strict" or self.concurrency == 1:
            return range(0)
        window = 2 * self.concurrency
        if self._page_size is None or self._total is None:
            # Waiting for page 1's totals would cost a whole round trip; a result of
            # fewer pages costs some requests that come back empty.
            last, window = number + self.concurrency - 1, self.concurrency
        else:
            last = -(-self._total // self._page_size)
        if max_records is not None:
            left = max(1, max_records - self.stats.records_yielded)
            last = min(last, number - 1 + -(-left // (self._page_size or self.query.per_page)))
        return range(number + 1, min(number + window, last + 1))

    def is_kept(self, number: int) -> bool:
        return number in self._kept

    # -- judging ---------------------------------------------------------------------

    def judge(self, read: Read) -> Page | None:
        """Accept ``read`` (the page to hand out, maybe empty), or heal and return ``None``."""
        self._force_next = None
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
        ordered = read.sent >= self._anchor
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
            self._covered, self._total = coverage, total
            self._anchor = max(self._anchor, read.received)
            if self._trusts_equal_totals:  # only then can this read be taken later
                self._kept[number] = read
            self._heal(read, f"{known - total} links left the list since the pages before")
            return None
        return self._accept(read, coverage, start)

    def _begin(self, read: Read) -> tuple[int, int]:
        """The coverage and the server's page size, set from the walk's first read."""
        if self._covered is not None and self._page_size is not None:
            return self._covered, self._page_size
        if self._page_size is None:
            self._page_size = _page_size(read, self.query.per_page)
        self._recent = _RecentIds(self.concurrency + 2, self._last_ids, read.number - 1)
        self._covered = (read.number - 1) * self._page_size
        if self._total is None:
            self._total = read.page.meta.total_records
        return self._covered, self._page_size

    def _accept(self, read: Read, coverage: int, start: int) -> Page | None:
        page = read.page
        self._check_page_size(read, start)
        ids = tuple(map(_LINK_ID, page.records))
        # Links standing before the coverage were handed out already, or were created
        # since: either way they are not handed out again.
        skip = max(0, coverage - start)
        if skip:
            fresh = self._recent.fresh(page.records[skip:], ids[skip:], read.number)
        else:
            fresh = self._recent.fresh(page.records, ids, read.number)
        self.stats.duplicates_dropped += len(page.records) - len(fresh)
        self._count_barren(read, bool(fresh) or not page.records)
        self._covered = max(coverage, start + len(page.records))
        if self._covered > self._furthest:
            self._furthest, self._stalled = self._covered, 0
        if page.records:  # an empty answer tells no total
            self._total = page.meta.total_records
            self._last_ids = ids
            self._last_number = read.number
            self._last_total = page.meta.total_records
        self._anchor = max(self._anchor, read.received)
        self.done = not page.records or self._covered >= (self._total or 0)
        self.checkpoint = Checkpoint(
            next_page=None if self.done else self.next_number(),
            query=self.query,
            page_size=self._page_size,
            total_records=self._total,
            seen=self._last_ids,
        )
        if not fresh:
            return None
        return page if fresh is page.records else attrs.evolve(page, records=tuple(fresh))

    def _heal(self, read: Read, why: str) -> None:
        self.stats.healing_reads += 1
        self._stalled += 1
        next_number = self.next_number()
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

    def _count_barren(self, read: Read, brought_some: bool) -> None:
        self._barren = 0 if brought_some else self._barren + 1
        if self._barren > MAX_BARREN_PAGES:
            raise ResponseFormatError(
                f"{self._barren} pages in a row, up to page {read.number}, brought no link "
                "that was not handed out before: the server repeats pages (it does not "
                "honour pageNumber)"
            )

    def _check_page_size(self, read: Read, start: int) -> None:
        page = read.page
        end = start + len(page.records)
        if page.records and end > page.meta.total_records:
            # One answer is one moment: its links cannot outnumber its own total.
            raise ResponseFormatError(
                f"page {read.number} holds links {start + 1} to {end}, past the "
                f"{page.meta.total_records} links its own totalRecords claims"
            )
        if page.records and end < page.meta.total_records and len(page.records) != self._page_size:
            raise ResponseFormatError(
                f"page {read.number} has {len(page.records)} links where the server "
                f"pages by {self._page_size}"
            )

    def _check_page_number(self, read: Read) -> None:
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
        # Only an unchanged list proves it: after a page's worth of links left, the
        # page before does show what this page showed.
        if same and page.meta.total_records == self._last_total:
            raise ResponseFormatError(
                f"page {read.number} holds the same links as the page before it: "
                "the server does not honour pageNumber"
            )
