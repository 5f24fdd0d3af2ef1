"""The record of one request the simulator received, for tests to assert on.

A module of its own because three others share it: the simulator makes one per
request, a fault writes the answer it served into it (``Fault.respond``) and a
mutation reads the page it asked for (``Mutation.due``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["SeenRequest"]


@attrs.define
class SeenRequest:
    """One request as the simulator received it, for tests to assert on.

    - ``method``, ``path``: the HTTP method and the URL's path.
    - ``headers``: the request's headers, as received (not in the repr).
    - ``raw_body``: the body's bytes (not in the repr).
    - ``body``: the body parsed from JSON (not in the repr).
    - ``page=None``, ``per_page=None``: the page number and page size asked for (the
      simulator's default page size when none was).
    - ``http_status=None``, ``statuscode=None``: the HTTP status and the envelope's
      ``statuscode`` served; ``None`` until answered, and a fault's own when one was.
    - ``fault=None``: the ``kind`` of the :class:`Fault` served, if any.
    - ``received_at``: ``time.monotonic()`` when the request arrived (real time, not a
      test's clock).

    ``body``, ``page`` and ``per_page`` stay ``None`` for a request the simulator could
    not read, which it refuses.
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    raw_body: bytes = attrs.field(repr=False)
    body: Any = attrs.field(repr=False)
    page: int | None = None
    per_page: int | None = None
    http_status: int | None = None
    statuscode: str | None = None
    fault: str | None = None
    received_at: float = attrs.field(factory=time.monotonic)
