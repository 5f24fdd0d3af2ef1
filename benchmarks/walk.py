"""Measurement 2: an end-to-end walk of every page at zero latency, in links per second.

A loopback server in another process answers with pre-serialized pages of 1,000
links, so what is measured is the client: the HTTP round trip, reading the body,
decoding and handing out each link. Rows: our ``Client.iter_links``, the same
with the collector held while each page decodes (the library before issue 22, see
``_held.py``), the same walk by hand with aiohttp + pydantic v2, and an untyped
aiohttp + orjson loop.
"""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from . import _optional
from ._held import LABEL, collector_held
from ._report import Row, Trials, shuffled_rounds, verdict
from ._servers import Dataset
from ._walkers import walk_ours, walk_pydantic, walk_raw

__all__ = ["datasets", "run"]

TARGET = 2
NAME = "walk"
PER_PAGE = 1000
OURS = "ours: Client.iter_links"
PYDANTIC = "aiohttp + pydantic v2 walk"
RAW = "aiohttp + orjson.loads, untyped"
HELD = f"ours, {LABEL}"

Walker = Callable[[], Awaitable[int]]


def _pages(quick: bool) -> int:
    return 5 if quick else 25


def datasets(*, quick: bool, seed: int) -> list[Dataset]:
    return [Dataset(NAME, PER_PAGE, _pages(quick), prebuilt=True, seed=seed)]


async def _walk_held(base_url: str, per_page: int) -> int:
    with collector_held():
        return await walk_ours(base_url, per_page)


def _walkers(base_url: str) -> tuple[dict[str, Walker], dict[str, str]]:
    walkers: dict[str, Walker] = {
        OURS: partial(walk_ours, base_url, PER_PAGE),
        HELD: partial(_walk_held, base_url, PER_PAGE),
    }
    skipped: dict[str, str] = {}
    models: Any = _optional.load("benchmarks._pydantic_models")
    if models is None:
        skipped[PYDANTIC] = _optional.missing_note("pydantic")
    else:
        walkers[PYDANTIC] = partial(walk_pydantic, base_url, PER_PAGE, models.Envelope)
    orjson = _optional.load("orjson")
    if orjson is None:
        skipped[RAW] = _optional.missing_note("orjson")
    else:
        walkers[RAW] = partial(walk_raw, base_url, PER_PAGE, orjson)
    return walkers, skipped


async def _measure(
    walkers: dict[str, Walker], expected: int, rounds: int, rng: random.Random
) -> Trials:
    for name, walk in walkers.items():  # untimed: warm up, and check every link arrives
        if (got := await walk()) != expected:
            raise RuntimeError(f"{name} walked {got} links, expected {expected}")
    trials = Trials()
    for order in shuffled_rounds(list(walkers), rounds, rng):
        for name in order:
            gc.collect()
            await trials.time_async(name, walkers[name])
    return trials


def run(*, quick: bool, rng: random.Random, urls: dict[str, str]) -> list[Row]:
    pages = _pages(quick)
    rounds = 2 if quick else 18
    walkers, skipped = _walkers(urls[NAME])
    trials = asyncio.run(_measure(walkers, pages * PER_PAGE, rounds, rng))
    vs_pydantic = trials.ratio(OURS, PYDANTIC, label="pydantic walk", minimum=1.3)
    vs_raw = trials.ratio(OURS, RAW, label="raw loop", minimum=0.3)
    size = f"{pages} pages x {PER_PAGE} links, {rounds} rounds"
    return [
        Row(TARGET, RAW, trials.rate(RAW), "links/s", note=skipped.get(RAW, size)),
        Row(
            TARGET,
            PYDANTIC,
            trials.rate(PYDANTIC),
            "links/s",
            ratios=(trials.ratio(PYDANTIC, RAW, label="raw loop"),),
            note=skipped.get(PYDANTIC, ""),
        ),
        Row(
            TARGET,
            HELD,
            trials.rate(HELD),
            "links/s",
            ratios=(trials.ratio(HELD, PYDANTIC, label="pydantic walk"),),
        ),
        Row(
            TARGET,
            OURS,
            trials.rate(OURS),
            "links/s",
            ratios=(vs_pydantic, vs_raw, trials.ratio(OURS, HELD, label="collector held")),
            goal="≥ 1.3x pydantic walk, ≥ 0.3x raw loop",
            met=verdict(vs_pydantic.met, vs_raw.met),
        ),
    ]
