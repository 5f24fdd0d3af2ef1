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
    """One request as the simulator received it, for tests to assert on."""

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
