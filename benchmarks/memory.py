"""Measurement 4: peak memory of a long walk, which should not grow with its length.

Each size is walked in a fresh interpreter (``python -m benchmarks.memory URL N``,
started through ``benchmarks._fresh``) so that no other peak hides its own: it
reads ``ru_maxrss`` once everything is imported and before the first request,
walks N links with ``iter_links(per_page=1000, max_items=N)``, and reads it
again. The row is the growth. The pages come from a server in another process, each 1,000 links with
link ids of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import time

import ipay_links

from ._report import Row, Spread
from ._servers import ROOT, Dataset
from ._walkers import CREDENTIALS

__all__ = ["datasets", "run"]

TARGET = 4
NAME = "bulk"
PER_PAGE = 1000
LIMIT_MB = 20.0


def _sizes(quick: bool) -> tuple[int, int]:
    return (10_000, 100_000) if quick else (100_000, 1_000_000)


def datasets(*, quick: bool, seed: int) -> list[Dataset]:
    return [Dataset(NAME, PER_PAGE, max(_sizes(quick)) // PER_PAGE, seed=seed)]


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def _walk(base_url: str, links: int) -> int:
    count = 0
    async with ipay_links.Client(CREDENTIALS, base_url=base_url) as client:
        async for _link in client.iter_links(per_page=PER_PAGE, max_items=links):
            count += 1
    return count


def _child(base_url: str, links: int) -> None:
    baseline = _max_rss_mb()
    started = time.perf_counter()
    count = asyncio.run(_walk(base_url, links))
    seconds = time.perf_counter() - started
    result = {"links": count, "baseline_mb": baseline, "peak_mb": _max_rss_mb(), "s": seconds}
    print(json.dumps(result))


def _measure_once(base_url: str, links: int) -> dict[str, float]:
    # Through _fresh, or the child would inherit this process's peak RSS (see there).
    walk = [sys.executable, "-m", "benchmarks.memory", base_url, str(links)]
    command = [sys.executable, "-m", "benchmarks._fresh", *walk]
    done = subprocess.run(  # noqa: S603  # our own interpreter and module, no shell
        command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    if result["links"] != links:
        raise RuntimeError(f"the walk read {result['links']} links, expected {links}")
    return result


def run(*, quick: bool, rng: random.Random, urls: dict[str, str]) -> list[Row]:
    repeats = 1 if quick else 2
    measured: dict[int, list[dict[str, float]]] = {size: [] for size in _sizes(quick)}
    for _ in range(repeats):
        for size in rng.sample(list(measured), len(measured)):
            measured[size].append(_measure_once(urls[NAME], size))
    small, large = _sizes(quick)
    growth = {
        size: Spread.of([r["peak_mb"] - r["baseline_mb"] for r in results])
        for size, results in measured.items()
    }
    flat = round(growth[large].median - growth[small].median, 1) + 0.0  # no "-0.0"
    rows = []
    for size, results in measured.items():
        baseline = statistics.median(r["baseline_mb"] for r in results)
        rate = statistics.median(r["links"] / r["s"] for r in results)
        note = f"baseline {baseline:.0f} MB, {rate:,.0f} links/s, {len(results)} runs"
        is_large = size == large
        rows.append(
            Row(
                TARGET,
                f"peak RSS growth, walk of {size:,} links",
                growth[size],
                "MB",
                goal=f"≤ {LIMIT_MB:g} MB, flat: {flat:+.1f} MB vs {small:,}" if is_large else "",
                met=(growth[large].median <= LIMIT_MB and flat <= 0.25 * LIMIT_MB)
                if is_large
                else None,
                note=note,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="One walk, then its peak RSS as JSON.")
    parser.add_argument("base_url")
    parser.add_argument("links", type=int)
    args = parser.parse_args()
    _child(args.base_url, args.links)


if __name__ == "__main__":
    main()
