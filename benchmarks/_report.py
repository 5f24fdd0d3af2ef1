"""Statistics over interleaved rounds, and the markdown table the harness prints.

The machine is shared and noisy: absolute times drift from one minute to the next.
So every contender runs once per round, rounds are shuffled, and a ratio is taken
within one round and only then summarised (median, min and max over the rounds).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Ratio",
    "Row",
    "Spread",
    "Trials",
    "render_table",
    "shuffled_rounds",
    "verdict",
]


@dataclass(frozen=True)
class Spread:
    """The median, minimum and maximum of a few measurements."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no measurement to summarise")
        return cls(statistics.median(values), min(values), max(values))


@dataclass(frozen=True)
class Ratio:
    """A contender against a baseline of the same round: ``contender / baseline``.

    ``minimum`` is the target the median must reach (``None``: context only).
    ``percent`` shows it as a percentage instead of a factor.
    """

    against: str
    spread: Spread | None
    minimum: float | None = None
    percent: bool = False
    missing: str = ""

    @property
    def met(self) -> bool | None:
        if self.minimum is None or self.spread is None:
            return None
        return self.spread.median >= self.minimum

    def render(self) -> str:
        if self.spread is None:
            return f"vs {self.against}: n/a ({self.missing})"
        s = self.spread
        if self.percent:
            text = f"{s.median:.0%} of {self.against} ({s.low:.0%}–{s.high:.0%})"
        else:
            text = f"{s.median:.2f}x {self.against} ({s.low:.2f}–{s.high:.2f})"
        if self.minimum is not None:
            wanted = f"{self.minimum:.0%}" if self.percent else f"{self.minimum:g}x"
            text += f" [≥ {wanted}]"
        return text


_NUMBERS: dict[str, Callable[[float], str]] = {
    "rec/s": lambda v: f"{v:,.0f}",
    "links/s": lambda v: f"{v:,.0f}",
    "pages/s": lambda v: f"{v:,.0f}",
    "ms": lambda v: f"{v:,.1f}",
    "MB": lambda v: f"{v:,.1f}",
}


@dataclass(frozen=True)
class Row:
    """One line of the results table; ``value is None`` means the row was skipped."""

    target: int
    label: str
    value: Spread | None
    unit: str
    ratios: tuple[Ratio, ...] = ()
    goal: str = ""
    met: bool | None = None
    note: str = ""

    def cells(self) -> list[str]:
        number = _NUMBERS[self.unit]
        if self.value is None:
            median, spread = "skipped", "–"
        else:
            median = f"{number(self.value.median)} {self.unit}"
            spread = f"{number(self.value.low)} – {number(self.value.high)}"
        ratios = "<br>".join(ratio.render() for ratio in self.ratios) or "–"
        verdict = {True: "met", False: "**missed**", None: "–"}[self.met]
        label = f"{self.label} ({self.note})" if self.note else self.label
        return [str(self.target), label, median, spread, ratios, self.goal or "–", verdict]


def verdict(*checks: bool | None) -> bool | None:
    """All known checks pass; ``None`` when none could be made."""
    known = [check for check in checks if check is not None]
    return all(known) if known else None


def render_table(rows: Sequence[Row]) -> str:
    header = [
        "#",
        "measurement",
        "median",
        "min – max",
        "ratio, same round: median (min–max) [target]",
        "target",
        "verdict",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines.extend("| " + " | ".join(row.cells()) + " |" for row in rows)
    return "\n".join(lines)


def shuffled_rounds(names: Sequence[str], rounds: int, rng: random.Random) -> Iterator[list[str]]:
    """``rounds`` orders of ``names``, each shuffled on its own."""
    for _ in range(rounds):
        order = list(names)
        rng.shuffle(order)
        yield order


@dataclass
class Trials:
    """Per contender, one ``(seconds, items)`` measurement per round, in round order."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    items: dict[str, list[int]] = field(default_factory=dict)

    def record(self, name: str, seconds: float, items: int) -> None:
        self.seconds.setdefault(name, []).append(seconds)
        self.items.setdefault(name, []).append(items)

    def time(self, name: str, work: Callable[[], int]) -> None:
        started = time.perf_counter()
        items = work()
        self.record(name, time.perf_counter() - started, items)

    async def time_async(self, name: str, work: Callable[[], Awaitable[int]]) -> None:
        started = time.perf_counter()
        items = await work()
        self.record(name, time.perf_counter() - started, items)

    def rates(self, name: str) -> list[float]:
        return [n / s for n, s in zip(self.items[name], self.seconds[name], strict=True)]

    def rate(self, name: str) -> Spread | None:
        return Spread.of(self.rates(name)) if name in self.seconds else None

    def millis(self, name: str) -> Spread | None:
        if name not in self.seconds:
            return None
        return Spread.of([s * 1000 for s in self.seconds[name]])

    def ratio(
        self, name: str, baseline: str, *, label: str | None = None, minimum: float | None = None
    ) -> Ratio:
        """Rate of ``name`` over rate of ``baseline``, within each round."""
        label = label or baseline
        for missing in (name, baseline):
            if missing not in self.seconds:
                return Ratio(label, None, minimum, missing="skipped")
        per_round = [a / b for a, b in zip(self.rates(name), self.rates(baseline), strict=True)]
        return Ratio(label, Spread.of(per_round), minimum)
