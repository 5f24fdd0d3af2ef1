"""Exact walks while links are created and leave the filter; resumable from a checkpoint."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from decimal import Decimal
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

import ipay_links as il
from ipay_links.testing import Mutation, Simulator, generate_links

from .conftest import FAST_RETRY


def issued(sim: Simulator) -> set[str]:
    return {link["linkId"] for link in sim.links if link["status"] == "ISSUED"}


async def walk_ids(sim: Simulator, **kwargs: Any) -> tuple[list[str], il.WalkStats]:
    async with sim.serve() as url, il.Client(sim.credentials, base_url=url, retry=FAST_RETRY) as c:
        walk = c.iter_links(per_page=10, **kwargs)
        got = [link.link_id async for link in walk]
    return got, walk.stats


def assert_exact(got: list[str], before: set[str], after: set[str], created: set[str]) -> None:
    """Every link in the set for the whole walk, once; nothing that never was in it."""
    assert not [link for link, n in Counter(got).items() if n > 1], "a link came twice"
    assert (before & after) - set(got) == set(), "a link was lost"
    assert set(got) <= before | created


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_links_created_at_the_head_mid_walk_are_not_repeated(concurrency: int) -> None:
    sim = Simulator(120, seed=5)
    before = {link["linkId"] for link in sim.links}
    sim.mutate(Mutation.insert(3, after_page=2))
    sim.mutate(Mutation.insert(4, after_page=6))
    got, stats = await walk_ids(sim, concurrency=concurrency)
    created = {link["linkId"] for link in sim.links} - before
    assert len(created) == 7
    assert_exact(got, before, before, created)
    assert stats.duplicates_dropped >= 1


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_links_leaving_the_filter_mid_walk_are_not_lost(
    concurrency: int, caplog: pytest.LogCaptureFixture
) -> None:
    sim = Simulator(200, seed=6)
    before = issued(sim)
    sim.mutate(Mutation.move(4, "ISSUED", "CLAIMED", after_page=2))
    sim.mutate(Mutation.move(3, "ISSUED", "CLAIMED", after_page=5))
    got, stats = await walk_ids(sim, status="ISSUED", concurrency=concurrency)
    assert_exact(got, before, issued(sim), set())
    assert stats.healing_reads >= 1
    assert "reading page" in caplog.text and "again" in caplog.text


@pytest.mark.parametrize("concurrency", [1, 3, 8])
@pytest.mark.parametrize("kind", ["insert", "move"])
async def test_a_steady_rate_of_one_kind_of_change_loses_and_repeats_nothing(
    concurrency: int, kind: str
) -> None:
    sim = Simulator(250, seed=9)
    before, all_before = issued(sim), {link["linkId"] for link in sim.links}
    if kind == "insert":
        sim.mutate(Mutation.insert(1, every=1))
    else:
        sim.mutate(Mutation.move(1, every=3))
    got, stats = await walk_ids(sim, status="ISSUED", concurrency=concurrency)
    created = {link["linkId"] for link in sim.links} - all_before
    assert_exact(got, before, issued(sim), created)
    assert stats.healing_reads <= 3 * stats.pages_fetched


async def test_links_leaving_between_every_two_reads_end_the_walk_with_an_error() -> None:
    # No read can prove a page complete when the list shrinks before every read:
    # the walk must say so, not loop, nor lose links silently.
    sim = Simulator(300, seed=12)
    sim.mutate(Mutation.move(1, every=1))
    with pytest.raises(il.ConsistencyError, match="resume from the checkpoint"):
        await walk_ids(sim, status="ISSUED")
    assert len(sim.requests) < 300


async def test_strict_consistency_walks_one_page_at_a_time_and_stays_exact() -> None:
    sim = Simulator(150, seed=4, latency=0.002)
    before, all_before = issued(sim), {link["linkId"] for link in sim.links}
    sim.mutate(Mutation.insert(1, every=2))
    sim.mutate(Mutation.move(1, every=3))
    got, _ = await walk_ids(sim, status="ISSUED", concurrency=8, consistency="strict")
    created = {link["linkId"] for link in sim.links} - all_before
    assert_exact(got, before, issued(sim), created)
    assert sim.max_in_flight == 1


async def test_a_server_that_ignores_page_number_is_reported() -> None:
    sim = Simulator(50, ignore_page_number=True)
    with pytest.raises(il.ResponseFormatError, match="does not honour pageNumber"):
        await walk_ids(sim)
    assert len(sim.requests) == 2


async def test_stats_and_checkpoints_follow_the_walk() -> None:
    sim = Simulator(95, seed=2)
    async with sim.serve() as url, il.Client(sim.credentials, base_url=url) as client:
        walk = client.iter_links(per_page=10, status=["ISSUED", "CLAIMED"])
        checkpoints = []
        async for _ in walk:
            checkpoints.append(walk.checkpoint.next_page)
    wanted = sum(link["status"] in ("ISSUED", "CLAIMED") for link in sim.links)
    stats = walk.stats
    assert stats.total_records == wanted
    assert stats.total_pages == -(-wanted // 10)
    assert stats.records_yielded == wanted
    assert stats.pages_fetched == stats.total_pages
    # After the 10th link of each page, the checkpoint moves to the next page.
    assert checkpoints[9] == 2 and checkpoints[8] == 1
    assert checkpoints[-1] is None
    assert walk.checkpoint.query.status == ("ISSUED", "CLAIMED")


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_resume_from_a_checkpoint_is_exact_across_changes(concurrency: int) -> None:
    sim = Simulator(160, seed=8)
    before, all_before = issued(sim), {link["linkId"] for link in sim.links}
    async with sim.serve() as url, il.Client(sim.credentials, base_url=url) as client:
        first = client.iter_links(per_page=10, status="ISSUED", concurrency=concurrency)
        got = []
        async with first:
            async for link in first:
                got.append(link.link_id)
                if len(got) == 35:
                    break
        checkpoint = il.Checkpoint.from_dict(first.checkpoint.to_dict())  # as saved to disk
        assert checkpoint.next_page is not None
        got = got[: 10 * (checkpoint.next_page - 1)]  # a crash loses the partial page
        # While the job was down: links created, links claimed.
        sim.links[:0] = Simulator(3, seed=99).links
        for wire in [lk for lk in sim.links if lk["status"] == "ISSUED"][5:8]:
            wire["status"] = "CLAIMED"
        second = client.iter_links(resume=checkpoint, concurrency=concurrency)
        got += [link.link_id async for link in second]
    created = {link["linkId"] for link in sim.links} - all_before
    assert_exact(got, before, issued(sim), created)


async def test_resume_refuses_filters_given_beside_it(client: il.Client) -> None:
    checkpoint = il.Checkpoint(next_page=2, query=il.Query(per_page=10))
    with pytest.raises(ValueError, match="resume= carries its own query"):
        client.iter_links(resume=checkpoint, status="ISSUED")
    with pytest.raises(ValueError, match="not a checkpoint"):
        il.Checkpoint.from_dict({"next_page": 2})


async def test_resuming_a_finished_walk_yields_nothing(client: il.Client) -> None:
    done = il.Checkpoint(next_page=None, query=il.Query(per_page=10))
    assert [link async for link in client.iter_links(resume=done)] == []


@st.composite
def schedules(draw: st.DrawFn) -> tuple[int, int, int, str, list[Mutation]]:
    page_size = draw(st.integers(4, 12))
    concurrency = draw(st.sampled_from([1, 2, 4]))
    kind = draw(st.sampled_from(["insert", "move", "mixed"]))
    # Fewer than a page of changes between two reads: at most `concurrency` requests
    # can land between two reads of the walk, each followed by at most `per` changes.
    per = max(1, (page_size - 1) // (concurrency + 1))
    mutations = []
    rules = draw(st.integers(0, min(3, per)))
    for _ in range(rules):
        count, every = draw(st.integers(1, per // rules)), draw(st.integers(1, 4))
        make = kind if kind != "mixed" else draw(st.sampled_from(["insert", "move"]))
        if make == "insert":
            mutations.append(Mutation.insert(count, every=every))
        else:
            mutations.append(Mutation.move(count, every=every))
    links = draw(st.integers(0, 90))
    return links, page_size, concurrency, kind, mutations


@settings(max_examples=60, deadline=None)
@given(schedule=schedules(), seed=st.integers(0, 1000))
def test_no_loss_and_no_duplicate_within_the_stated_bounds(
    schedule: tuple[int, int, int, str, list[Mutation]], seed: int
) -> None:
    links, page_size, concurrency, kind, mutations = schedule
    sim = Simulator(links, seed=seed, max_page_size=page_size)
    before, all_before = issued(sim), {link["linkId"] for link in sim.links}
    for mutation in mutations:
        sim.mutate(mutation)
    got: list[str] = []
    try:
        got, _ = asyncio.run(walk_ids(sim, status="ISSUED", concurrency=concurrency))
    except il.ConsistencyError:
        # Allowed, and bounded: links left between every two reads for a while.
        assert any(mutation.kind == "move" for mutation in mutations)
        return
    created = {link["linkId"] for link in sim.links} - all_before
    whole_walk = before & issued(sim)
    assert len(got) == len(set(got)), "a link came twice"
    assert set(got) <= before | created
    lost = whole_walk - set(got)
    if lost:
        # The documented limit: only creations and removals between the same two
        # overlapping reads, cancelling out in totalRecords, can hide a shift.
        assert concurrency > 1 and kind == "mixed", f"lost {len(lost)} links"


def test_logging_is_quiet_for_a_still_data_set(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ipay_links")
    sim = Simulator(80)
    got, stats = asyncio.run(walk_ids(sim, concurrency=4))
    assert len(got) == 80
    assert stats.healing_reads == 0 and stats.duplicates_dropped == 0
    assert caplog.text == ""


class ScriptedServer:
    """A fetch function over a list of link ids, for a walk without a network.

    Page 3 is answered before page 2 when both are asked at once, and the data set
    changes right after the second answer: one link created at the head, the last
    one removed. ``totalRecords`` stays 30, so no client can see the shift.
    """

    def __init__(self) -> None:
        self.ids = [f"{i:024x}" for i in range(30)]
        self.asked: list[int] = []
        self.answered = 0
        self.third_answered = asyncio.Event()

    async def fetch(self, query: il.Query, number: int, throttle: object) -> il.Page:
        self.asked.append(number)
        await asyncio.sleep(0)  # let a concurrent request for page 3 start
        if number == 2 and 3 in self.asked:
            await self.third_answered.wait()
        page = self.page(number)
        self.answered += 1
        if self.answered == 2:
            self.ids = ["new-link", *self.ids[:-1]]
        if number == 3:
            self.third_answered.set()
        return page

    def page(self, number: int) -> il.Page:
        chunk = self.ids[(number - 1) * 10 : number * 10]
        records = tuple(
            il.PayoutLink(link_id=link_id, status="ISSUED", amount=Decimal(1)) for link_id in chunk
        )
        meta = il.PageMeta(
            total_pages=3,
            current_page=number,
            total_records=30,
            records_on_current_page=len(records),
        )
        return il.Page(meta=meta, records=records)


@pytest.mark.parametrize(("consistency", "lost"), [("fast", {f"{19:024x}"}), ("strict", set())])
async def test_the_documented_limit_is_real_and_strict_consistency_closes_it(
    consistency: str, lost: set[str]
) -> None:
    server = ScriptedServer()
    before = set(server.ids)
    walk = il.LinkWalk(
        il.PageWalk(server.fetch, il.Query(per_page=10), concurrency=3, consistency=consistency)  # type: ignore[arg-type]
    )
    got = [link.link_id async for link in walk]
    assert len(got) == len(set(got))
    whole_walk = before & set(server.ids)
    assert whole_walk - set(got) == lost


async def test_resume_after_more_than_a_page_of_new_links_loses_none() -> None:
    # Beyond the stated bound (fewer than a page of changes between two reads) links
    # may come twice across a resume, but none may be lost.
    sim = Simulator(100, seed=31)
    async with sim.serve() as url, il.Client(sim.credentials, base_url=url) as client:
        got: list[str] = []
        async with client.iter_links(per_page=10) as first:
            async for link in first:
                got.append(link.link_id)
                if len(got) == 30:
                    break
        checkpoint = first.checkpoint
        assert checkpoint.next_page == 4
        sim.links[:0] = generate_links(300, seed=5)[:25]  # 2.5 pages of new links
        got += [link.link_id async for link in client.iter_links(resume=checkpoint)]
    assert {link["linkId"] for link in sim.links[25:]} <= set(got)


async def test_resume_after_a_link_left_heals_instead_of_failing() -> None:
    sim = Simulator(100, seed=32)
    before = issued(sim)
    async with sim.serve() as url, il.Client(sim.credentials, base_url=url) as client:
        first = client.iter_pages(per_page=5, status="ISSUED")
        page = await first.__anext__()
        await first.aclose()
        oldest_issued = [link for link in sim.links if link["status"] == "ISSUED"][-1]
        oldest_issued["status"] = "CLAIMED"
        rest = client.iter_links(resume=first.checkpoint)
        got = [link.link_id for link in page.records] + [link.link_id async for link in rest]
    assert_exact(got, before, issued(sim), set())
