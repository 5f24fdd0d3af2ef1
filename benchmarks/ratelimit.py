"""``python -m benchmarks.ratelimit [--runs 10] [--links 5000]``: a walk behind nginx's limit_req.

Issue 12: behind a rate limiter a walk finishes. A :class:`ipay_links.testing.Simulator`
serves ``--links`` links on loopback, and a real nginx in front of it lets 10 requests a
second through (``limit_req`` with ``burst=2 nodelay``), refusing the others in one of
four ways: 429 or 503, each bare or with ``Retry-After: 1``. In each set-up
``client.iter_links(per_page=100, concurrency=8)`` walks every link with the default
``RetryPolicy``, ``--runs`` times. The target: every run completes, with every link
exactly once, at >= 70% of the rate the limit allows over the whole walk (pages over
10 r/s x the walk's time). A walk straight to the simulator, once per round, gives
the unlimited time of the same round.

Run it from the repository root (it starts nginx with ``tests._infra``); it needs nginx
(``apt-get install nginx-light``), so it is not part of ``python -m benchmarks`` and CI
does not run it. ``--runs 10`` takes about 4 minutes. Walks run one at a time, in rounds
(the unlimited walk, then the four set-ups); the table is printed as markdown on stdout,
progress on stderr. The exit status is 1 when the target is not met, 2 without nginx.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import ipay_links
from ipay_links.testing import Simulator
from tests._infra import nginx

from . import _optional
from .__main__ import _cpu_model, _library_state

RATE = 10  # requests a second nginx lets through
BURST = 2
PER_PAGE = 100
CONCURRENCY = 8
TARGET_EFFICIENCY = 0.70
SEED = 5  # the simulator's data set
WALK_TIMEOUT = 300.0  # seconds: a walk that takes longer counts as failed
LOG_DEADLINE = 5.0  # seconds nginx may take to log the walk's last requests

# The http block's additions: the zone, and the Retry-After to add to a refusal.
HTTP = f"""\
    limit_req_zone $binary_remote_addr zone=pages:1m rate={RATE}r/s;
    map $status $retry_after {{ 429 1; 503 1; default ""; }}
"""


@dataclass(frozen=True)
class Setup:
    """How nginx refuses a request over the limit."""

    status: int
    retry_after: bool

    @property
    def name(self) -> str:
        return f"{self.status} + Retry-After: 1" if self.retry_after else f"{self.status} bare"

    def server_block(self, upstream: str) -> str:
        rules = f"limit_req zone=pages burst={BURST} nodelay; limit_req_status {self.status};"
        if self.retry_after:
            # An empty value adds no header: only nginx's refusals carry it.
            rules += " add_header Retry-After $retry_after always;"
        return f"        location / {{ {rules} proxy_pass {upstream}; }}"


SETUPS = (Setup(429, False), Setup(503, False), Setup(429, True), Setup(503, True))


@dataclass
class Run:
    """One walk: its time, whether it completed with every link once, what nginx saw."""

    seconds: float
    error: str | None = None
    links_ok: bool = False
    passed: int = 0  # requests nginx let through
    refused: int = 0  # requests nginx refused

    @property
    def completed(self) -> bool:
        return self.error is None and self.links_ok


@dataclass
class Results:
    baseline: list[Run] = field(default_factory=list)
    limited: dict[Setup, list[Run]] = field(default_factory=lambda: {s: [] for s in SETUPS})


def find_nginx() -> str | None:
    return shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))


def nginx_version(binary: str) -> str:
    """``nginx -v``'s version (it prints to stderr)."""
    done = subprocess.run(  # noqa: S603  # our own nginx, fixed arguments, no shell
        [binary, "-v"], capture_output=True, text=True, check=False
    )
    text = (done.stderr or done.stdout).strip()
    return text.removeprefix("nginx version: ") or "unknown nginx"


async def walk(sim: Simulator, base_url: str) -> tuple[list[str], float, str | None]:
    """The link ids of one walk through ``base_url``, its time, and its error if it raised."""
    ids: list[str] = []
    async with ipay_links.Client(sim.credentials, base_url=base_url) as client:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(WALK_TIMEOUT):
                links = client.iter_links(per_page=PER_PAGE, concurrency=CONCURRENCY)
                async for link in links:
                    ids.append(link.link_id)
        except Exception as error:  # noqa: BLE001  # any error fails the run, and is shown
            return ids, time.perf_counter() - started, f"{type(error).__name__}: {error}"
        return ids, time.perf_counter() - started, None


def every_link_once(sim: Simulator, ids: list[str]) -> bool:
    expected = [str(link["linkId"]) for link in sim.links]
    assert len(set(expected)) == len(expected), "the simulator's link ids are not distinct"
    return len(ids) == len(expected) and set(ids) == set(expected)


async def unlimited(links: int) -> Run:
    """The same walk straight to the simulator."""
    sim = Simulator(links, seed=SEED)
    async with sim.serve() as upstream:
        ids, seconds, error = await walk(sim, upstream)
    return Run(seconds, error, every_link_once(sim, ids), passed=sim.request_count)


async def limited(setup: Setup, links: int) -> Run:
    """The walk through a fresh nginx (a fresh limit) in front of a fresh simulator."""
    sim = Simulator(links, seed=SEED)
    async with sim.serve() as upstream:
        with (
            tempfile.TemporaryDirectory(prefix="ipay-ratelimit-") as directory,
            nginx(Path(directory), setup.server_block(upstream), http=HTTP) as front,
        ):
            ids, seconds, error = await walk(sim, front.url)
            # nginx logs a request once answered: the client may have the answer first.
            deadline = time.monotonic() + LOG_DEADLINE
            statuses = front.statuses()
            while len(statuses) - statuses.count(setup.status) < sim.request_count:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.01)
                statuses = front.statuses()
    refused = statuses.count(setup.status)
    return Run(seconds, error, every_link_once(sim, ids), len(statuses) - refused, refused)


def describe(run: Run) -> str:
    if run.error is not None:
        return f"FAILED after {run.seconds:.2f} s: {run.error}"
    check = "every link once" if run.links_ok else "LINKS WRONG (missing or repeated)"
    return f"{run.seconds:.2f} s, {run.passed} passed, {run.refused} refused, {check}"


async def measure(runs: int, links: int) -> Results:
    results = Results()
    for number in range(1, runs + 1):
        run = await unlimited(links)
        results.baseline.append(run)
        print(f"round {number}/{runs}: no limiter: {describe(run)}", file=sys.stderr, flush=True)
        for setup in SETUPS:
            run = await limited(setup, links)
            results.limited[setup].append(run)
            print(f"round {number}/{runs}: {setup.name}: {describe(run)}", file=sys.stderr)
            sys.stderr.flush()
    return results


# -- the report -----------------------------------------------------------------------


def _spread(values: list[float], fmt: str, unit: str = "") -> str:
    if not values:
        return "–"
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{middle:{fmt}}{unit} ({low:{fmt}} – {high:{fmt}}{unit})"


def efficiency(run: Run, pages: int) -> float:
    return pages / (RATE * run.seconds)


def met(runs: list[Run], pages: int) -> bool:
    return bool(runs) and all(
        run.completed and efficiency(run, pages) >= TARGET_EFFICIENCY for run in runs
    )


def table(results: Results, links: int) -> str:
    pages = math.ceil(links / PER_PAGE)
    ideal = pages / RATE
    lines = [
        f"| set-up ({links:,} links, {pages} pages, concurrency {CONCURRENCY}) "
        "| runs completed | every link once | walk time, s: median (min – max) "
        f"| x ideal {ideal:.1f} s: median | x unlimited walk, same round: median (min – max) "
        f"| efficiency = pages / ({RATE} r/s x time): min / median "
        "| refused by nginx: median (min – max) | passed by nginx: median | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = results.baseline
    base_times = [run.seconds for run in base if run.completed]
    lines.append(
        f"| no limiter (straight to the simulator) "
        f"| {sum(r.completed for r in base)}/{len(base)} "
        f"| {sum(r.links_ok for r in base)}/{len(base)} "
        f"| {_spread(base_times, '.2f')} | – | – | – | – "
        f"| {statistics.median(r.passed for r in base):.0f} | – |"
    )
    for setup, runs in results.limited.items():
        done = [run for run in runs if run.completed]
        times = [run.seconds for run in done]
        ratios = [
            run.seconds / plain.seconds
            for run, plain in zip(runs, base, strict=True)
            if run.completed and plain.completed
        ]
        effs = [efficiency(run, pages) for run in done]
        effs_text = f"{min(effs):.0%} / {statistics.median(effs):.0%}" if effs else "–"
        ideal_text = f"{statistics.median(times) / ideal:.2f}x" if times else "–"
        lines.append(
            f"| {setup.name} | {len(done)}/{len(runs)} "
            f"| {sum(r.links_ok for r in runs)}/{len(runs)} "
            f"| {_spread(times, '.2f')} | {ideal_text} | {_spread(ratios, '.1f', 'x')} "
            f"| {effs_text} | {_spread([float(r.refused) for r in runs], '.0f')} "
            f"| {statistics.median(r.passed for r in runs):.0f} "
            f"| {'met' if met(runs, pages) else 'NOT MET'} |"
        )
    return "\n".join(lines)


def machine(binary: str) -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"- machine: {usable} usable CPUs (nproc), {_cpu_model()}, {platform.system()} "
        f"{platform.release()}\n"
        f"- nginx {nginx_version(binary)}; Python {platform.python_version()} "
        f"({platform.python_implementation()}); aiohttp {_optional.version('aiohttp')}\n"
        f"- {_library_state()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ratelimit", description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="walks per set-up (default 10)")
    parser.add_argument("--links", type=int, default=5000, help="links served (default 5000)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.links < 1:
        parser.error("--runs and --links must be at least 1")
    binary = find_nginx()
    if binary is None:
        print("nginx is not installed: apt-get install nginx-light", file=sys.stderr)
        return 2
    measured = machine(binary)  # before the walks: what ran, not what is there after
    started = time.perf_counter()
    results = asyncio.run(measure(args.runs, args.links))
    pages = math.ceil(args.links / PER_PAGE)
    verdict = all(met(runs, pages) for runs in results.limited.values())

    print(f"## ipay_links behind nginx limit_req ({datetime.date.today().isoformat()})\n")
    print(measured)
    print(
        f"- limit_req {RATE} r/s, burst={BURST} nodelay; runs per set-up: {args.runs}; "
        f"total time {time.perf_counter() - started:.0f} s\n"
    )
    print(table(results, args.links))
    failures = [
        f"- {setup.name}, run {number}: {describe(run)}"
        for setup, runs in results.limited.items()
        for number, run in enumerate(runs, 1)
        if not run.completed
    ]
    failures += [
        f"- no limiter, run {number}: {describe(run)}"
        for number, run in enumerate(results.baseline, 1)
        if not run.completed
    ]
    if failures:
        print("\nFailed runs:\n" + "\n".join(failures))
    target = f"{args.runs}/{args.runs} runs in every set-up, >= {TARGET_EFFICIENCY:.0%} each"
    print(f"\nTarget ({target}): {'met' if verdict else 'NOT MET'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
