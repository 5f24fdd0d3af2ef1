"""The public home of ``ipay_links._io.pagination``.

Kept so that imports written before the move still work; new code imports from
``ipay_links``.
"""

from ._io.pagination import (
    Checkpoint,
    ConsistencyError,
    LinkWalk,
    PageWalk,
    WalkStats,
)

__all__ = [
    "Checkpoint",
    "ConsistencyError",
    "LinkWalk",
    "PageWalk",
    "WalkStats",
]
