"""A progress bar on stderr for long exports (tqdm), only when stderr is a terminal."""

from __future__ import annotations

from typing import Any

from .._io.pagination import WalkStats

__all__ = ["Progress"]


class Progress:
    """Links done of the total (once the first page told it), pages, rate, time left."""

    def __init__(self, *, enabled: bool, already: int = 0) -> None:
        self.enabled = enabled
        self._already = already
        self._bar: Any = None

    def update(self, stats: WalkStats, links: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm  # imported only when a bar is shown

            self._bar = tqdm(
                total=stats.total_records,
                initial=self._already,
                unit="link",
                unit_scale=True,
                dynamic_ncols=True,
                leave=True,
            )
        if stats.total_records is not None and self._bar.total != stats.total_records:
            self._bar.total = stats.total_records
        self._bar.set_postfix_str(f"pages {stats.pages_fetched}/{stats.total_pages}", refresh=False)
        self._bar.update(links)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
