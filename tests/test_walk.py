"""The walk over every page: the server's meta decides, nothing is fetched early."""

from __future__ import annotations

from typing import Any

import pytest

import ipay_links as il
from ipay_links.testing import Simulator, generate_links

from .conftest import FAST_RETRY


def ids(links: list[dict[str, Any]]) -> list[str]:
    return [link["linkId"] for link in links]


async def test_reference_sample_case_server_pages_by_two_and_all_six_pages_are_read() -> None:
    # InstantPay's sample: 10 asked per page, 2 served, totalPages 6, 12 records.
    simulator = Simulator(12, max_page_size=2)
    async with simulator.serve() as url, il.Client(simulator.credentials, base_url=url) as client:
        walk = client.iter_pages(per_page=10)
        pages = [page async for page in walk]
    assert [page.meta.current_page for page in pages] == [1, 2, 3, 4, 5, 6]
    assert all(page.meta.total_pages == 6 for page in pages)
    assert [seen.per_page for seen in simulator.requests] == [10] * 6
    assert [link.link_id for page in pages for link in page.records] == ids(simulator.links)
    assert walk.stats.pages_fetched == 6
    assert walk.stats.total_records == 12


async def test_iter_links_yields_every_link_in_order(
    client: il.Client, simulator: Simulator
) -> None:
    links = [link async for link in client.iter_links(per_page=10)]
    assert [link.link_id for link in links] == ids(simulator.links)
    assert [seen.page for seen in simulator.requests] == [1, 2, 3, 4, 5, 6]


async def test_filters_reach_the_server_and_shape_the_walk(
    client: il.Client, simulator: Simulator
) -> None:
    wanted = [link for link in simulator.links if link["status"] in ("ISSUED", "EXPIRED")]
    walk = client.iter_links(per_page=4, status=[il.LinkStatus.ISSUED, "EXPIRED"])
    assert [link.link_id async for link in walk] == ids(wanted)
    assert all(
        seen.body["filters"]["status"] == ["ISSUED", "EXPIRED"] for seen in simulator.requests
    )


async def test_breaking_after_five_links_costs_one_request(
    client: il.Client, simulator: Simulator
) -> None:
    seen = []
    async for link in client.iter_links(per_page=10):
        seen.append(link)
        if len(seen) == 5:
            break
    assert len(simulator.requests) == 1


async def test_max_items_stops_without_fetching_more(
    client: il.Client, simulator: Simulator
) -> None:
    walk = client.iter_links(per_page=10, max_items=20)
    links = [link async for link in walk]
    assert [link.link_id for link in links] == ids(simulator.links[:20])
    assert len(simulator.requests) == 2
    assert walk.stats.records_yielded == 20


async def test_a_walk_over_nothing_yields_nothing(client: il.Client, simulator: Simulator) -> None:
    links = [link async for link in client.iter_links(contact="nobody@nowhere.example")]
    assert links == []
    assert [seen.statuscode for seen in simulator.requests] == ["ERR"]


async def test_start_page_and_checkpoint_resume_without_loss(
    client: il.Client, simulator: Simulator
) -> None:
    first = client.iter_links(per_page=10)
    taken = []
    async for link in first:
        taken.append(link.link_id)
        if len(taken) == 25:
            break
    checkpoint = first.checkpoint
    assert checkpoint.next_page == 3  # pages 1 and 2 were fully yielded
    resumed = client.iter_links(per_page=checkpoint.query.per_page, start_page=checkpoint.next_page)
    rest = [link.link_id async for link in resumed]
    assert taken[:20] + rest == ids(simulator.links)
    assert resumed.checkpoint.next_page is None


async def test_total_pages_is_reread_on_every_page(client: il.Client, simulator: Simulator) -> None:
    # 57 links: 6 pages of 10. Older links appear at the end while walking.
    walk = client.iter_pages(per_page=10)
    seen_ids = []
    async for page in walk:
        seen_ids += [link.link_id for link in page.records]
        if page.meta.current_page == 2:
            simulator.links.extend(generate_links(80, seed=99)[:13])
    assert len(seen_ids) == 70
    assert walk.stats.total_pages == 7


async def test_an_unknown_status_does_not_stop_a_walk(simulator: Simulator) -> None:
    simulator.links[3]["status"] = "REFUNDED"
    async with simulator.serve() as url, il.Client(simulator.credentials, base_url=url) as client:
        links = [link async for link in client.iter_links(per_page=5)]
    assert len(links) == 57
    assert links[3].status == "REFUNDED"


async def test_a_record_without_its_link_id_stops_the_walk_naming_page_and_field(
    simulator: Simulator,
) -> None:
    simulator.links[12]["linkId"] = None
    got: list[il.PayoutLink] = []

    async def consume(walk: il.LinkWalk) -> None:
        async for link in walk:
            got.append(link)

    async with (
        simulator.serve() as url,
        il.Client(simulator.credentials, base_url=url, retry=FAST_RETRY) as client,
    ):
        with pytest.raises(il.ResponseFormatError, match=r"page 2: record 3: 'linkId'"):
            await consume(client.iter_links(per_page=10))
    assert len(got) == 10
    assert len(simulator.requests) == 2  # a format error is not retried


async def test_a_failed_page_is_asked_for_again_when_iteration_goes_on(
    client: il.Client, simulator: Simulator
) -> None:
    from ipay_links.testing import Fault

    walk = client.iter_pages(per_page=20)
    await walk.__anext__()
    simulator.inject(Fault.envelope("IAC", "Invalid dealer credentials"))
    with pytest.raises(il.AuthenticationError):
        await walk.__anext__()
    rest = [page async for page in walk]
    assert [page.meta.current_page for page in rest] == [2, 3]
