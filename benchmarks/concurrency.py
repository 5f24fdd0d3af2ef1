"""Measurement 3: walking pages one at a time and N at a time, at 50 ms and at 0 ms.

The paced server answers every request 50 ms after reading it, so a walk of P
pages with N requests in flight can take no less than ``ceil(P / N) * 50 ms``.
Each row is the wall time of ``client.iter_pages(per_page=100, concurrency=N)``
over every page, and that ideal over the time taken (100% is perfect; the target
is 90%). Beside it, the same ideal over the time of plain aiohttp GETs that know
every page number in advance and decode nothing: what this machine, this server
and aiohttp allow at all.
The unpaced server answers at once: there the rows show pages/s and the speed-up
over N = 1, which only the client's own work bounds.
"""

from __future__ import annotations

import asyncio
import math
import random
from functools import partial

import aiohttp

import ipay_links
from ipay_links._core.protocol import LIST_PATH

from ._pages import CREDENTIALS_HEADERS, request_body
from ._report import Ratio, Row, Spread, Trials, shuffled_rounds, verdict
from ._servers import Dataset
from ._walkers import CREDENTIALS

__all__ = ["datasets", "run"]

TARGET = 3
NAME = "paced"
UNPACED = "unpaced"
LATENCY = 0.050
PER_PAGE = 100
CONCURRENCY = (1, 2, 4, 8, 16)


def _pages(quick: bool) -> int:
    return 10 if quick else 200


def datasets(*, quick: bool, seed: int) -> list[Dataset]:
    return [
        Dataset(NAME, PER_PAGE, _pages(quick), latency=LATENCY, seed=seed),
        Dataset(UNPACED, PER_PAGE, _pages(quick), latency=0.0, seed=seed),
    ]


async def _walk(base_url: str, concurrency: int) -> int:
    pages = 0
    async with ipay_links.Client(CREDENTIALS, base_url=base_url) as client:
        async for page in client.iter_pages(per_page=PER_PAGE, concurrency=concurrency):
            pages += 1 if page.records else 0
    return pages


async def _raw(base_url: str, concurrency: int, pages: int) -> int:
    """The ceiling: plain aiohttp GETs, every page number known ahead, nothing decoded."""
    slots = asyncio.Semaphore(concurrency)
    url = base_url + LIST_PATH

    async with aiohttp.ClientSession() as session:

        async def get(page: int) -> int:
            async with (
                slots,
                session.get(
                    url, headers=CREDENTIALS_HEADERS, data=request_body(page, PER_PAGE)
                ) as response,
            ):
                await response.read()
                return 1

        return sum(await asyncio.gather(*(get(page) for page in range(1, pages + 1))))


async def _measure(
    base_url: str, pages: int, rounds: int, rng: random.Random, *, raw: bool = False
) -> Trials:
    if (got := await _walk(base_url, 1)) != pages:  # untimed: warm up, check the walk
        raise RuntimeError(f"the walk read {got} pages, expected {pages}")
    names = [str(n) for n in CONCURRENCY]
    if raw:
        names += [f"raw-{n}" for n in CONCURRENCY if n > 1]
    trials = Trials()
    for order in shuffled_rounds(names, rounds, rng):
        for name in order:
            if name.startswith("raw-"):
                work = partial(_raw, base_url, int(name[4:]), pages)
            else:
                work = partial(_walk, base_url, int(name))
            await trials.time_async(name, work)
    return trials


def run(*, quick: bool, rng: random.Random, urls: dict[str, str]) -> list[Row]:
    pages = _pages(quick)
    rounds = 1 if quick else 2
    trials = asyncio.run(_measure(urls[NAME], pages, rounds, rng, raw=True))
    rows = _paced_rows(trials, pages, rounds)
    unpaced = asyncio.run(_measure(urls[UNPACED], pages, 1 if quick else 5, rng))
    for n in CONCURRENCY:
        rate = Spread.of([pages / s for s in unpaced.seconds[str(n)]])
        ratios = (unpaced.ratio(str(n), "1", label="sequential"),) if n > 1 else ()
        rows.append(
            Row(
                TARGET,
                f"iter_pages(concurrency={n}), server at 0 ms",
                rate,
                "pages/s",
                ratios=ratios,
                note=f"{pages} pages x {PER_PAGE} links" if n == 1 else "",
            )
        )
    return rows


def _paced_rows(trials: Trials, pages: int, rounds: int) -> list[Row]:
    rows = []
    for n in CONCURRENCY:
        ideal = math.ceil(pages / n) * LATENCY
        seconds = trials.seconds[str(n)]
        efficiency = Ratio(
            f"ideal {ideal * 1000:.0f} ms",
            Spread.of([ideal / s for s in seconds]),
            minimum=0.9 if n > 1 else None,
            percent=True,
        )
        ratios = [efficiency]
        if n > 1:
            ratios.append(trials.ratio(str(n), "1", label="sequential"))
            raw_seconds = trials.seconds[f"raw-{n}"]
            ratios.append(
                Ratio(
                    "ideal, by raw aiohttp (pages known, undecoded)",
                    Spread.of([ideal / s for s in raw_seconds]),
                    percent=True,
                )
            )
        note = f"{pages} pages x {PER_PAGE} links, {rounds} rounds" if n == 1 else ""
        rows.append(
            Row(
                TARGET,
                f"iter_pages(concurrency={n})",
                trials.millis(str(n)),
                "ms",
                ratios=tuple(ratios),
                goal="≥ 90% of ideal" if n > 1 else "",
                met=verdict(efficiency.met) if n > 1 else None,
                note=note,
            )
        )
    return rows
