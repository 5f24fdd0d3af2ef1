"""Changes to the data set while a walk runs: links created, links leaving a status."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import attrs

from ._data import EPOCH, make_link, parse_created
from ._requests import SeenRequest

__all__ = ["Mutation"]


@attrs.frozen
class Mutation:
    """A scripted change of the data set, applied right after a request is answered.

    ``after_page=P`` applies it once, after page P is first served; ``every=K``
    after every K-th request. Build it with :meth:`insert` or :meth:`move`.
    """

    kind: str
    count: int
    from_status: str | None = None
    to_status: str | None = None
    after_page: int | None = None
    every: int | None = None

    @classmethod
    def insert(
        cls, count: int, *, after_page: int | None = None, every: int | None = None
    ) -> Mutation:
        """``count`` new links at the head of the list (newer than any other), status ISSUED."""
        return cls("insert", count, after_page=after_page, every=every)

    @classmethod
    def move(
        cls,
        count: int,
        from_status: str = "ISSUED",
        to_status: str = "CLAIMED",
        *,
        after_page: int | None = None,
        every: int | None = None,
    ) -> Mutation:
        """``count`` links in ``from_status``, picked at random, change to ``to_status``."""
        return cls("move", count, from_status, to_status, after_page=after_page, every=every)

    def due(self, seen: SeenRequest, served_pages: set[int | None], number: int) -> bool:
        """Whether this mutation applies after request ``number`` (1-based), ``seen``."""
        if self.every is not None:
            return number % self.every == 0
        return seen.page == self.after_page and seen.page not in served_pages

    def apply(self, links: list[dict[str, Any]], rng: random.Random, next_index: int) -> int:
        """Change ``links`` in place; return how many new link ids were used."""
        if self.kind == "insert":
            newest = parse_created(links[0]) if links else EPOCH
            fresh = [
                make_link(rng, next_index + i, newest + timedelta(seconds=i + 1))
                | {"status": "ISSUED"}
                for i in range(self.count)
            ]
            links[:0] = reversed(fresh)
            return self.count
        candidates = [link for link in links if link["status"] == self.from_status]
        for link in rng.sample(candidates, min(self.count, len(candidates))):
            link["status"] = self.to_status
        return 0
