"""``python -m benchmarks [--quick] [--only NAME ...]``: run the measurements, print a table.

Every ratio compares contenders measured in the same round of the same run; see
benchmarks/README.md for what each row means and the target it checks.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol

import ipay_links

from . import _optional, concurrency, decode, importtime, memory, walk
from ._report import Row, render_table
from ._servers import Dataset, serve


class Measurement(Protocol):
    def datasets(self, *, quick: bool, seed: int) -> list[Dataset]: ...

    def run(self, *, quick: bool, rng: random.Random, urls: dict[str, str]) -> list[Row]: ...


MEASUREMENTS: dict[str, Measurement] = {
    "decode": decode,
    "walk": walk,
    "concurrency": concurrency,
    "memory": memory,
    "importtime": importtime,
}
LIBRARIES = (
    "ipay-links",
    "aiohttp",
    "attrs",
    "cattrs",
    "pydantic",
    "pydantic-core",
    "msgspec",
    "orjson",
)


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else "unknown CPU"


def _library_state() -> str:
    """Which ``ipay_links`` was measured: its directory, and its git commit if it has one."""
    package = Path(ipay_links.__file__).resolve().parent
    git = ["git", "-C", str(package)]
    try:
        commit = subprocess.run(  # noqa: S603  # fixed arguments, no shell
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(  # noqa: S603
            [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"ipay_links from {package} (not a git checkout)"
    dirty = " + uncommitted changes" if changes else ""
    return f"ipay_links from {package}, git {commit}{dirty}"


def machine() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(f"{name} {_optional.version(name)}" for name in LIBRARIES)
    return (
        f"- machine: {usable} usable CPUs (nproc), {_cpu_model()}, {platform.system()} "
        f"{platform.release()}\n"
        f"- Python {platform.python_version()} ({platform.python_implementation()})\n"
        f"- {versions}\n"
        f"- {_library_state()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, few rounds: a smoke run for CI"
    )
    parser.add_argument("--only", nargs="+", choices=list(MEASUREMENTS), help="run only these")
    parser.add_argument("--seed", type=int, default=2024, help="data and round order seed")
    args = parser.parse_args(argv)
    selected = {name: MEASUREMENTS[name] for name in args.only or MEASUREMENTS}
    rng = random.Random(args.seed)
    started = time.perf_counter()

    datasets = [
        dataset
        for measurement in selected.values()
        for dataset in measurement.datasets(quick=args.quick, seed=args.seed)
    ]
    rows: list[Row] = []
    servers: AbstractContextManager[dict[str, str]] = (
        serve(datasets) if datasets else nullcontext({})
    )
    with servers as urls:
        for name, measurement in selected.items():
            print(f"running {name}…", end=" ", file=sys.stderr, flush=True)
            begun = time.perf_counter()
            rows.extend(measurement.run(quick=args.quick, rng=rng, urls=urls))
            print(f"{time.perf_counter() - begun:.1f} s", file=sys.stderr, flush=True)

    mode = "`--quick`: small sizes, few rounds, verdicts only indicative" if args.quick else "full"
    print(f"## ipay_links benchmarks ({mode})\n")
    print(machine())
    print(f"- total time {time.perf_counter() - started:.1f} s, seed {args.seed}\n")
    print(render_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
