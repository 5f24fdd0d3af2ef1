"""The public home of ``ipay_links._io.client``.

Kept so that imports written before the move still work; new code imports from
``ipay_links``.
"""

from ._io.client import (
    DEFAULT_BASE_URL,
    Client,
    WalkOptions,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "Client",
    "WalkOptions",
]
