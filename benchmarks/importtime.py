"""Measurement 5: ``import ipay_links`` in a fresh interpreter, from ``-X importtime``.

Each row is the cumulative time of the ``ipay_links`` line (everything it imports,
dependencies and standard library included), median of several runs, the two
kinds of run interleaved:

- *bytecode cached*: what an installed wheel gives. The runs read and write
  their bytecode under a temporary ``PYTHONPYCACHEPREFIX`` (never in the source
  tree), filled by one untimed run first. This row carries the target.
- *environment as is*: the interpreter as this shell sets it up. With
  ``PYTHONDONTWRITEBYTECODE=1`` and an editable install, ``ipay_links`` itself is
  compiled again on every import.

The note names the heaviest packages by their own cumulative times; they overlap
(``asyncio`` is imported by ``aiohttp``).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile

from ._report import Row, Spread
from ._servers import ROOT, Dataset

__all__ = ["cumulative_ms", "datasets", "run"]

TARGET = 5
LIMIT_MS = 150.0
PACKAGE = "ipay_links"
PARTS = ("aiohttp", "attrs", "cattrs", "backoff", "asyncio", "logging")
CACHED = "bytecode cached"
AS_IS = "environment as is"


def datasets(*, quick: bool, seed: int) -> list[Dataset]:
    return []


def cumulative_ms(report: str) -> dict[str, float]:
    """Each package's cumulative import time, in ms, from its first ``-X importtime`` line."""
    times: dict[str, float] = {}
    for line in report.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue  # the header line, or something else on stderr
        times.setdefault(fields[2].strip(), int(fields[1]) / 1000)
    return times


def _import_once(env: dict[str, str]) -> dict[str, float]:
    command = [sys.executable, "-X", "importtime", "-c", f"import {PACKAGE}"]
    done = subprocess.run(  # noqa: S603  # our own interpreter, no shell
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    times = cumulative_ms(done.stderr)
    if PACKAGE not in times:
        raise RuntimeError(f"-X importtime printed no line for {PACKAGE}")
    return times


def _row(kind: str, measured: list[dict[str, float]], *, target: bool) -> Row:
    total = Spread.of([times[PACKAGE] for times in measured])
    parts = ", ".join(
        f"{part} {statistics.median(times.get(part, 0.0) for times in measured):.0f} ms"
        for part in PARTS
    )
    return Row(
        TARGET,
        f"import {PACKAGE}, {kind}",
        total,
        "ms",
        goal=f"< {LIMIT_MS:g} ms" if target else "",
        met=total.median < LIMIT_MS if target else None,
        note=f"{len(measured)} runs; of which {parts}",
    )


def run(*, quick: bool, rng: random.Random, urls: dict[str, str]) -> list[Row]:
    runs = 2 if quick else 11
    with tempfile.TemporaryDirectory(prefix="ipay-bench-pycache-") as prefix:
        cached = {**os.environ, "PYTHONPYCACHEPREFIX": prefix}
        cached.pop("PYTHONDONTWRITEBYTECODE", None)
        envs = {CACHED: cached, AS_IS: dict(os.environ)}
        for env in envs.values():
            _import_once(env)  # untimed: fills the cache
        measured: dict[str, list[dict[str, float]]] = {kind: [] for kind in envs}
        for _ in range(runs):
            for kind in rng.sample(list(envs), len(envs)):
                measured[kind].append(_import_once(envs[kind]))
    as_is = AS_IS
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        as_is += " (PYTHONDONTWRITEBYTECODE set)"
    return [_row(CACHED, measured[CACHED], target=True), _row(as_is, measured[AS_IS], target=False)]
