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

    Build it with :meth:`insert` or :meth:`move` and pass it to ``Simulator.mutate``.
    The attributes are what those set; nothing is checked.

    - ``kind``: ``"insert"`` or ``"move"``.
    - ``count``: links created, or links moved.
    - ``from_status=None``, ``to_status=None``: a move's statuses.
    - ``after_page=None``: apply it once, after page ``after_page`` is first served.
    - ``every=None``: apply it after every ``every``-th request (it wins over
      ``after_page``). Give one of the two.
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
        """Whether this mutation applies after request ``number`` (1-based), ``seen``.

        ``served_pages`` are the page numbers the requests before it asked for. The simulator
        asks this; a test has no need to.
        """
        if self.every is not None:
            return number % self.every == 0
        return seen.page == self.after_page and seen.page not in served_pages

    def apply(self, links: list[dict[str, Any]], rng: random.Random, next_index: int) -> int:
        """Change ``links`` (wire form, newest first) in place; return how many ids it used.

        ``rng`` picks the links a move changes and makes the new ones; ``next_index``
        numbers the first new link's id. The simulator calls this.
        """
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
