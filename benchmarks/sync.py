"""``python -m benchmarks.sync [--links 100000] [--runs 3]``: the database mirror's speed.

``ipay-links sync`` of every link from the simulator into SQLite and into PostgreSQL,
against ``ipay-links export`` of the same walk to JSONL, measured in the same round. The
target: the sync at >= 50% of the export's links/s, and peak RSS flat in the number of
links (``--small`` links, 30,000 by default, against ``--links``). The small walk is long
enough for the sync's writer to reach its steady state, its queue full (6,000 links,
about 1 KB each): at 10,000 links a sync into PostgreSQL ended before the queue filled, and
the comparison measured the queue filling (+5 to +9 MB, growing with its size), not
memory growing with the number of links.

Every command is a real ``ipay-links`` process, ``--concurrency 4 -q``, walking a
simulator served by ``python -m ipay_links.testing`` in a process of its own (one per
size). Each is timed from start to exit (its interpreter's start and imports included)
by a small wrapper process that reports the command's peak RSS (``ru_maxrss`` of its
children: a process forked from the big harness would count the harness's memory). Each
sync goes into a new database, then runs again over it ("re-sync": every link known,
nothing changed). PostgreSQL is a server of its own, started with ``tests._postgres``
(fsync off, as for the tests). Rounds run every contender once, in a shuffled order;
ratios are taken within a round.

Run it from the repository root with the ``db`` extra; it is not part of
``python -m benchmarks``. The table is printed as markdown on stdout, each measurement
on stderr; the exit status is 1 when a target is not met. ``--quick`` (CI) checks that
the harness runs: small sizes, one round, never a failure on speed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import _optional
from ._report import Spread

if TYPE_CHECKING:
    from tests._postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.5  # the sync's links/s over the export's, same round
FLAT_MB = 5.0  # peak RSS at --links at most this much above the peak at --small
CONCURRENCY = 4
STARTUP_SECONDS = 60.0  # the simulator generates its links before it listens
LIBRARIES = ("ipay-links", "aiohttp", "msgspec", "sqlalchemy", "aiosqlite", "asyncpg", "greenlet")

# Runs a command, then prints its wall time, its peak RSS and its stdout as JSON. It
# imports next to nothing, so that the command it forks starts from a small process.
WRAPPER = """\
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=False)
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_kib": usage.ru_maxrss, "status": done.returncode,
                  "out": done.stdout, "err": done.stderr[-2000:]}))
"""


@dataclass(frozen=True)
class Measured:
    """One command's run: wall time, CPU time (user + system), peak RSS, what it printed."""

    seconds: float
    cpu: float
    peak_mb: float
    out: str


def measure(command: list[str], env: dict[str, str]) -> Measured:
    """Run ``command`` through the wrapper; ``RuntimeError`` if it fails."""
    done = subprocess.run(  # noqa: S603  # our own interpreter and commands, no shell
        [sys.executable, "-c", WRAPPER, *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    result = json.loads(done.stdout)
    if result["status"] != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result['status']}:\n{result['err']}")
    return Measured(result["seconds"], result["cpu"], result["peak_kib"] / 1024, result["out"])


@contextlib.contextmanager
def simulator(links: int, directory: Path) -> Iterator[str]:
    """``python -m ipay_links.testing --links N`` on a free port; its base URL."""
    log = directory / f"simulator-{links}.log"
    command = [sys.executable, "-m", "ipay_links.testing", "--port", "0", "--links", str(links)]
    with log.open("w") as stream:
        process = subprocess.Popen(command, stderr=stream, cwd=ROOT)  # noqa: S603  # ours
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not (found := re.search(r"on (http://\S+) .*\ncredentials", log.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(30)


def environment() -> dict[str, str]:
    """Ours, with the simulator's credentials (made up: it accepts only these)."""
    from ipay_links.testing import SIMULATOR_CREDENTIALS as CREDENTIALS

    return os.environ | {
        "IPAY_CLIENT_ID": CREDENTIALS.client_id,
        "IPAY_CLIENT_SECRET": CREDENTIALS.client_secret,
        "IPAY_ENDPOINT_IP": CREDENTIALS.endpoint_ip,
    }


def cli(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "ipay_links", *arguments, "--concurrency", str(CONCURRENCY), "-q"]


@dataclass
class Results:
    """Every measurement: ``runs[(size, contender)]``, in round order."""

    runs: dict[tuple[int, str], list[Measured]] = field(default_factory=dict)

    def add(self, size: int, contender: str, measured: Measured) -> None:
        self.runs.setdefault((size, contender), []).append(measured)
        rate = size / measured.seconds
        print(
            f"{contender}, {size:,} links: {measured.seconds:.2f} s, {rate:,.0f} links/s, "
            f"CPU {measured.cpu:.2f} s, peak {measured.peak_mb:.1f} MB",
            file=sys.stderr,
            flush=True,
        )

    def contenders(self) -> list[str]:
        """The contenders measured: the export, then each backend's sync and re-sync."""
        measured = {contender for _, contender in self.runs}
        return [contender for contender in CONTENDERS if contender in measured]

    def rates(self, size: int, contender: str) -> list[float]:
        return [size / run.seconds for run in self.runs.get((size, contender), [])]

    def peaks(self, size: int, contender: str) -> list[float]:
        return [run.peak_mb for run in self.runs.get((size, contender), [])]


EXPORT = "export → JSONL"
CONTENDERS = [EXPORT] + [
    f"{label} → {backend}" for backend in ("SQLite", "PostgreSQL") for label in ("sync", "re-sync")
]


class Bench:
    """The contenders of one round, for one size: each checks what it did."""

    def __init__(
        self, directory: Path, server: PostgresServer | None, env: dict[str, str], results: Results
    ) -> None:
        self.directory = directory
        self.server = server
        self.env = env
        self.results = results
        self._count = 0

    def _path(self, suffix: str) -> Path:
        self._count += 1
        return self.directory / f"run-{self._count}{suffix}"

    def export(self, url: str, size: int) -> None:
        out = self._path(".jsonl")
        measured = measure(cli("export", "--base-url", url, "-o", str(out)), self.env)
        with out.open("rb") as stream:
            lines = sum(1 for _ in stream)
        out.unlink()
        if lines != size:
            raise RuntimeError(f"the export wrote {lines} links, expected {size}")
        self.results.add(size, EXPORT, measured)

    def sync(self, url: str, size: int, backend: str) -> None:
        """A sync into a new database, then a re-sync over it."""
        database = self._new_database(backend)
        try:
            for number, new, label in ((1, size, "sync"), (2, 0, "re-sync")):
                measured = measure(cli("sync", "--base-url", url, "--db", database), self.env)
                said = measured.out.splitlines()[0]
                expected = f"sync {number} complete: {size} links seen, {new} new, 0 changed, "
                if not said.startswith(expected):
                    raise RuntimeError(f"the {label} said {said!r}, expected {expected!r}...")
                self.results.add(size, f"{label} → {backend}", measured)
        finally:
            self._drop(database)

    def _new_database(self, backend: str) -> str:
        if backend == "SQLite":
            return str(self._path(".db"))
        assert self.server is not None
        return self.server.new_database()

    def _drop(self, database: str) -> None:
        if self.server is not None and "://" in database:
            self.server.psql(f"DROP DATABASE {database.rsplit('/', 1)[1]}")
            return
        path = Path(database)
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}.sync-lock"):
            (path.parent / name).unlink(missing_ok=True)


def run_rounds(
    bench: Bench, urls: dict[int, str], runs: int, rng: random.Random, postgres: bool
) -> None:
    steps: list[Callable[[str, int], None]] = [
        bench.export,
        lambda url, size: bench.sync(url, size, "SQLite"),
    ]
    if postgres:
        steps.append(lambda url, size: bench.sync(url, size, "PostgreSQL"))
    for number in range(1, runs + 1):
        print(f"-- round {number} of {runs}", file=sys.stderr, flush=True)
        for size in rng.sample(list(urls), len(urls)):
            for step in rng.sample(steps, len(steps)):
                step(urls[size], size)


def _spread(values: list[float], digits: int = 2) -> str:
    spread = Spread.of(values)
    return f"{spread.median:,.{digits}f} ({spread.low:,.{digits}f} – {spread.high:,.{digits}f})"


def speed_table(results: Results, size: int, *, judged: bool = True) -> tuple[str, bool]:
    """One row per contender at ``size``; whether every sync met the speed target."""
    lines = [
        f"| {size:,} links (concurrency {CONCURRENCY}) | runs | wall time, s: median "
        "(min – max) | links/s: median | x export, same round: median (min – max) | "
        "CPU time of the command, s: median | peak RSS, MB: median (min – max) | target | "
        "verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    export = results.rates(size, EXPORT)
    met = True
    for contender in results.contenders():
        runs = results.runs[(size, contender)]
        rates = results.rates(size, contender)
        seconds = _spread([run.seconds for run in runs])
        cpu = statistics.median(run.cpu for run in runs)
        peak = _spread(results.peaks(size, contender), 1)
        if contender == EXPORT:
            ratio, target, verdict = "–", "–", "–"
        else:
            ratios = [mine / theirs for mine, theirs in zip(rates, export, strict=True)]
            ratio = _spread(ratios)
            good = statistics.median(ratios) >= TARGET_RATIO
            met = met and good
            target, verdict = f"≥ {TARGET_RATIO:.2f}x", "met" if good else "NOT MET"
            if not judged:
                target, verdict = "(at the big size)", "–"
        lines.append(
            f"| {contender} | {len(runs)} | {seconds} | {statistics.median(rates):,.0f} | "
            f"{ratio} | {cpu:.2f} | {peak} | {target} | {verdict} |"
        )
    return "\n".join(lines), met


def memory_table(results: Results, small: int, large: int) -> tuple[str, bool]:
    """Peak RSS at both sizes per contender; whether every sync stayed flat."""
    lines = [
        f"| peak RSS, MB: median | at {small:,} links | at {large:,} links | difference | "
        "target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    met = True
    for contender in results.contenders():
        low = statistics.median(results.peaks(small, contender))
        high = statistics.median(results.peaks(large, contender))
        difference = round(high - low, 1) + 0.0  # no "-0.0"
        if contender == EXPORT:
            target, verdict = "–", "–"
        else:
            good = difference <= FLAT_MB
            met = met and good
            target, verdict = f"≤ +{FLAT_MB:g} MB", "met" if good else "NOT MET"
        lines.append(
            f"| {contender} | {low:.1f} | {high:.1f} | {difference:+.1f} | {target} | {verdict} |"
        )
    return "\n".join(lines), met


def machine(server: PostgresServer | None) -> str:
    from .__main__ import _cpu_model, _library_state

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(f"{name} {_optional.version(name)}" for name in LIBRARIES)
    postgres = (
        "" if server is None else f", PostgreSQL {server.psql('SHOW server_version').strip()}"
    )
    return (
        f"- machine: {usable} usable CPUs (nproc), {_cpu_model()}, {platform.system()} "
        f"{platform.release()}\n"
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}{postgres}\n"
        f"- {versions}\n"
        f"- {_library_state()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync", description=__doc__)
    parser.add_argument("--links", type=int, default=100_000, help="links of the big walk")
    parser.add_argument("--small", type=int, default=30_000, help="links of the small walk")
    parser.add_argument("--runs", type=int, default=3, help="rounds")
    parser.add_argument("--seed", type=int, default=2026, help="order of the rounds")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI's smoke run: 2,000 and 1,000 links, one round; never fails on a target",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.links, args.small, args.runs = 2_000, 1_000, 1
    started = time.perf_counter()
    results = Results()
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sync-bench-")))
        server = None
        if not args.no_postgres:
            from tests._postgres import postgres_server

            server = stack.enter_context(postgres_server(directory / "postgres"))
        urls = {
            size: stack.enter_context(simulator(size, directory))
            for size in (args.small, args.links)
        }
        bench = Bench(directory, server, environment(), results)
        run_rounds(bench, urls, args.runs, random.Random(args.seed), server is not None)
        about = machine(server)
    speed, fast = speed_table(results, args.links)
    memory, flat = memory_table(results, args.small, args.links)
    print("## ipay-links sync against ipay-links export\n")
    print(about)
    print(
        f"- {args.runs} rounds, seed {args.seed}, "
        f"total time {time.perf_counter() - started:.0f} s\n"
    )
    print(speed + "\n")
    print(speed_table(results, args.small, judged=False)[0] + "\n")
    print(memory)
    print(f"\nTarget (sync ≥ {TARGET_RATIO:.0%} of the export's links/s, peak RSS flat): ", end="")
    print("met" if fast and flat else "NOT MET")
    if args.quick:
        print("(--quick: sizes too small to judge; the harness ran, every count checked)")
        return 0
    return 0 if fast and flat else 1


if __name__ == "__main__":
    sys.exit(main())
