"""The walk's reasoning without a server or a clock: WalkState driven by hand, synchronously.

A model server (a list of ids, newest first) answers each read as the data set stands
at the moment it answers; hypothesis picks the changes between reads and, for
concurrent walks, which read in flight is answered next.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

import ipay_links as il
from ipay_links._core.checkpoint import Consistency
from ipay_links._core.protocol import Query
from ipay_links._core.walkstate import MAX_STALLED_HEALS, Read, WalkState


class ModelServer:
    """Links newest first; pages by ``size``, whatever is asked for."""

    def __init__(self, count: int, size: int) -> None:
        self.ids = [f"{n:024x}" for n in reversed(range(count))]
        self.size = size
        self.created = count
        self.ever = set(self.ids)

    def create(self, count: int) -> None:
        new = [f"{n:024x}" for n in reversed(range(self.created, self.created + count))]
        self.created += count
        self.ever.update(new)
        self.ids[:0] = new

    def remove(self, position: int) -> None:
        if self.ids:
            del self.ids[position % len(self.ids)]

    def page(self, number: int) -> il.Page:
        start = (number - 1) * self.size
        ids = self.ids[start : start + self.size]
        if not ids:  # InstantPay's "No Record Found": no totals
            return il.Page(il.PageMeta(0, number, 0, 0), ())
        total = len(self.ids)
        meta = il.PageMeta(-(-total // self.size), number, total, len(ids), start + 1)
        return il.Page(meta, tuple(il.PayoutLink(i, "ISSUED", Decimal(1)) for i in ids))


KINDS = {"create": ["create"], "remove": ["remove"], "both": ["create", "remove"], "none": []}


def change(server: ModelServer, kind: str, data: st.DataObject) -> None:
    """Fewer than half a page of changes of ``kind``: the bound the README states."""
    if not KINDS[kind]:
        return
    units = st.sampled_from(KINDS[kind])
    for unit in data.draw(st.lists(units, max_size=(server.size - 1) // 2)):
        if unit == "create":
            server.create(1)
        else:
            server.remove(data.draw(st.integers(0, 10**6)))


def walk(
    state: WalkState,
    server: ModelServer,
    data: st.DataObject,
    kind: str,
    handed: list[tuple[int, str]] | None = None,
) -> list[str]:
    """Drive ``state`` as PageWalk does; answers come in an order hypothesis picks.

    Each link handed out is also added to ``handed`` with its page number.
    """
    got: list[str] = []
    in_flight: dict[int, int] = {}  # page -> when it was sent
    answered: dict[int, Read] = {}
    reads = 0
    limit = 20 * (server.created // server.size + 2) * (MAX_STALLED_HEALS + 2)
    while not state.done:
        number = state.next_number()
        read = state.take_kept(number)
        if read is None:
            for wanted in [number, *state.ahead(number)]:
                if wanted not in in_flight and wanted not in answered:
                    in_flight[wanted] = state.stamp()
            while number not in answered:
                which = data.draw(st.sampled_from(sorted(in_flight)))
                change(server, kind, data)
                sent = in_flight.pop(which)
                answered[which] = Read(which, server.page(which), sent, state.stamp())
                reads += 1
                assert reads <= limit, "the walk does not end"
            read = answered.pop(number)
        page = state.judge(read)
        if page is not None:
            got.extend(link.link_id for link in page.records)
            if handed is not None:
                handed.extend((number, link.link_id) for link in page.records)
    return got


def assert_exact(got: list[str], stayed: set[str], ever: set[str]) -> None:
    assert [i for i, n in Counter(got).items() if n > 1] == [], "a link came twice"
    assert stayed - set(got) == set(), "a link that stayed was lost"
    assert set(got) <= ever


@settings(max_examples=200, deadline=None)
@given(
    links=st.integers(0, 60),
    size=st.integers(1, 7),
    kind=st.sampled_from(["create", "remove", "both"]),
    consistency=st.sampled_from(["fast", "strict"]),
    data=st.data(),
)
def test_a_walk_one_page_at_a_time_is_exact_under_any_mix_of_changes(
    links: int, size: int, kind: str, consistency: Consistency, data: st.DataObject
) -> None:
    server = ModelServer(links, size)
    before = set(server.ids)
    state = WalkState(Query(per_page=size), consistency=consistency)
    try:
        got = walk(state, server, data, kind)
    except il.ConsistencyError:
        # Said so, rather than a wrong answer: allowed only when links keep leaving the
        # list (README, "How exact is a walk"), after that many healing reads in a row.
        # Links that are only created never stop a walk.
        assert kind != "create"
        assert state.stats.healing_reads > MAX_STALLED_HEALS
        return
    assert_exact(got, before & set(server.ids), server.ever)
    assert state.checkpoint.next_page is None


@settings(max_examples=200, deadline=None)
@given(
    links=st.integers(0, 60),
    size=st.integers(1, 7),
    concurrency=st.integers(2, 8),
    kind=st.sampled_from(["create", "remove", "none"]),
    data=st.data(),
)
def test_a_concurrent_walk_is_exact_under_one_kind_of_change(
    links: int, size: int, concurrency: int, kind: str, data: st.DataObject
) -> None:
    server = ModelServer(links, size)
    before = set(server.ids)
    state = WalkState(Query(per_page=size), concurrency=concurrency)
    try:
        got = walk(state, server, data, kind)
    except il.ConsistencyError:
        assert kind == "remove"
        return
    assert_exact(got, before & set(server.ids), server.ever)
    if kind == "none":
        assert got == server.ids
        assert state.stats.healing_reads == 0


def test_pages_are_handed_out_in_order_and_the_walk_ends() -> None:
    server = ModelServer(25, 10)
    state = WalkState(Query(per_page=10))
    handed = []
    while not state.done:
        number = state.next_number()
        sent = state.stamp()
        page = state.judge(Read(number, server.page(number), sent, state.stamp()))
        assert page is not None
        handed.append((number, len(page.records)))
        assert state.checkpoint.next_page == (None if state.done else number + 1)
    assert handed == [(1, 10), (2, 10), (3, 5)]
    assert state.stats.total_records == 25


def test_links_that_left_before_a_page_is_read_make_it_read_the_page_before_again() -> None:
    server = ModelServer(30, 10)
    state = WalkState(Query(per_page=10))
    sent = state.stamp()
    assert state.judge(Read(1, server.page(1), sent, state.stamp())) is not None
    for _ in range(3):
        server.remove(0)  # three links of page 1 leave: page 2 starts three links later
    sent = state.stamp()
    assert state.judge(Read(2, server.page(2), sent, state.stamp())) is None
    assert state.next_number() == 1  # the coverage moved back into page 1
    assert state.stats.healing_reads == 1


def test_a_server_that_ignores_page_numbers_is_refused() -> None:
    server = ModelServer(30, 10)
    state = WalkState(Query(per_page=10))
    sent = state.stamp()
    state.judge(Read(1, server.page(1), sent, state.stamp()))
    with pytest.raises(il.ResponseFormatError, match="does not honour pageNumber"):
        state.judge(Read(2, server.page(1), state.stamp(), state.stamp()))


class Adversary(ModelServer):
    """A server that breaks the rules: pages that repeat, alternate or shift; lying totals."""

    def __init__(self, count: int, size: int, pages: str, total: str, lie: int) -> None:
        super().__init__(count, size)
        self.pages, self.total, self.lie = pages, total, lie
        self.requests = 0

    def claimed_total(self) -> int:
        return {
            "true": len(self.ids),
            "huge": 10**9,
            "growing": len(self.ids) + self.requests,
            "other": self.lie,
        }[self.total]

    def page(self, number: int) -> il.Page:
        self.requests += 1
        shown = {
            "honest": number,
            "repeat": 1,
            "alternate": 1 + self.requests % 2,
        }.get(self.pages)
        if shown is None:  # "shift": a window sliding by one link per request
            ids = self.ids[self.requests : self.requests + self.size]
        else:
            ids = self.ids[(shown - 1) * self.size : shown * self.size]
        if not ids:
            return il.Page(il.PageMeta(0, number, 0, 0), ())
        total = self.claimed_total()
        start = (number - 1) * self.size
        meta = il.PageMeta(-(-total // self.size), number, total, len(ids), start + 1)
        return il.Page(meta, tuple(il.PayoutLink(i, "ISSUED", Decimal(1)) for i in ids))


@settings(max_examples=200, deadline=None)
@given(
    links=st.integers(0, 40),
    size=st.integers(1, 6),
    concurrency=st.integers(1, 4),
    pages=st.sampled_from(["honest", "repeat", "alternate", "shift"]),
    total=st.sampled_from(["true", "huge", "growing", "other"]),
    lie=st.integers(0, 60),
    data=st.data(),
)
def test_any_server_ends_the_walk_within_a_bounded_number_of_reads(
    links: int,
    size: int,
    concurrency: int,
    pages: str,
    total: str,
    lie: int,
    data: st.DataObject,
) -> None:
    server = Adversary(links, size, pages, total, lie)
    state = WalkState(Query(per_page=size), concurrency=concurrency)
    handed: list[tuple[int, str]] = []
    got: list[str] = []
    error = None
    try:
        got = walk(state, server, data, "none", handed)
    except (il.ResponseFormatError, il.ConsistencyError) as exc:
        error = exc
    # Bounded: every read beyond the first few must bring a link not seen before.
    assert server.requests <= links + (MAX_STALLED_HEALS + 4) * (2 * concurrency + 2), pages
    # Never the same link twice within the dedupe window (the last N + 2 page numbers).
    first: dict[str, int] = {}
    for number, link_id in handed:
        first.setdefault(link_id, number)
        assert number == first[link_id] or number - first[link_id] >= concurrency + 2
    if pages in ("honest", "repeat"):  # pages that alternate or shift can outrun the window
        assert len(got) == len(set(got)), "a link came twice"
    assert set(got) <= set(server.ids)
    if error is None and pages == "honest" and total == "true":
        assert got == server.ids  # an honest server: every link
