"""Where a walk stands (:class:`Checkpoint`) and how far it got (:class:`WalkStats`).

Pure data: what a walk hands its caller to resume from and to show progress, and what
the export's checkpoint file and the mirror's ``sync_runs`` rows keep. The reasoning
that fills them in is :mod:`ipay_links._core.walkstate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

import attrs

from .checks import check_number
from .plain import InvalidValue, from_plain, to_plain
from .protocol import Query

__all__ = ["CONSISTENCY_LEVELS", "Checkpoint", "Consistency", "WalkStats"]

Consistency = Literal["fast", "strict"]
CONSISTENCY_LEVELS: tuple[Consistency, ...] = get_args(Consistency)


def _optional_at_least(minimum: int) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            try:
                check_number(attribute.name, value, minimum, whole=True)
            except (TypeError, ValueError) as exc:
                raise InvalidValue(str(exc)) from None

    return check


@attrs.frozen
class Checkpoint:
    """Where a walk stands, after the last page it handed out in full.

    Pass it as ``resume=`` to continue exactly (the links of the last page are kept
    to drop what would be seen again); ``start_page=checkpoint.next_page`` with the
    same filters also resumes, without that protection at the seam. Save it with
    :meth:`to_dict`, read it back with :meth:`from_dict`.

    - ``next_page``: the page to read next (1 or more); ``None`` once the walk is over.
    - ``query``: the walk's :class:`Query`, its filters and the page size asked for.
    - ``page_size=None``: the server's own page size, once a page was read.
    - ``total_records=None``: the links in the result (0 or more) at the last page read.
    - ``seen=()``: the ``link_id``s of the last page handed out in full.

    Raises ``ValueError`` for a ``next_page``, ``page_size`` or ``total_records`` that
    is not an int in its range (a wrong type included).
    """

    next_page: int | None = attrs.field(validator=_optional_at_least(1))
    query: Query
    page_size: int | None = attrs.field(default=None, validator=_optional_at_least(1))
    total_records: int | None = attrs.field(default=None, validator=_optional_at_least(0))
    seen: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back."""
        result: dict[str, Any] = to_plain(self)
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        """The checkpoint :meth:`to_dict` wrote as ``data``.

        Unknown keys are ignored. Raises ``ValueError`` naming each field that is
        missing or wrong (``not a checkpoint: required field missing @ $.query``).
        """
        return from_plain(data, cls)


@attrs.define
class WalkStats:
    """Live progress of a walk, updated as it goes; a walk's ``stats`` attribute.

    - ``total_pages=None``, ``total_records=None``: the size of the whole result, as the
      latest page that held links said; ``None`` until one is read.
    - ``pages_fetched=0``: pages read, healing reads and pages read ahead included
      (requests that failed in the end are not).
    - ``records_yielded=0``: links handed out so far.
    - ``duplicates_dropped=0``: links left out of a page because they were handed out
      before (the list shifted between two reads).
    - ``healing_reads=0``: pages read again because the list changed under the walk.
    - ``retries=0``: requests sent again after a failure that may pass.
    - ``throttle_waits=0``: requests held back by a server's ``Retry-After`` before
      they were sent.
    """

    total_pages: int | None = None
    total_records: int | None = None
    pages_fetched: int = 0
    records_yielded: int = 0
    duplicates_dropped: int = 0
    healing_reads: int = 0
    retries: int = 0
    throttle_waits: int = 0
