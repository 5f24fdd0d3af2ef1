"""Our decoder as it was before issue 22: the garbage collector held while a page decodes.

The library turned the collector off for the whole process around each page, which
a library must not do; the harness may, to price what leaving it on costs. Measured
beside ours in the same rounds, ``ours / held`` is that price (1.00x: nothing).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from ipay_links import Page
from ipay_links._core import codec

__all__ = ["LABEL", "collector_held"]

LABEL = "collector held per page (as before issue 22)"

_decode_page = codec.decode_page


def _held_decode_page(body: bytes, *, page: int) -> Page | None:
    if not gc.isenabled():
        return _decode_page(body, page=page)
    gc.disable()
    try:
        return _decode_page(body, page=page)
    finally:
        gc.enable()


@contextmanager
def collector_held() -> Iterator[None]:
    """Inside, ``read_response`` decodes every page with the collector held, as it did."""
    codec.decode_page = _held_decode_page
    try:
        yield
    finally:
        codec.decode_page = _decode_page
