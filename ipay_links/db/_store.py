"""The store: a transaction's links looked up, compared and upserted, a change row per
field that differs; and, once a transaction has failed, which link PostgreSQL could not
store.

Unchanged links (the nightly case) are only touched, by key, a thousand to a statement;
changed ones rewritten whole; new ones inserted through the driver's own executemany
(:func:`_insert_new`). Amounts are compared to the digit, in the form both databases keep.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
from sqlalchemy import ARRAY, Text, bindparam, case, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .._core.flat import FLAT_FIELDS, flatten
from ..errors import UnstorableLinkError
from ..models import PayoutLink
from ._schema import LINK_FIELDS, amount_text, changes, links, postgresql_refuses, utc_text

__all__ = ["change_row", "store", "unstorable"]


def _text(value: object) -> str | None:
    """A column's value as the text of a change row."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return utc_text(value)  # old and new alike in UTC, whatever zone each came in
    if isinstance(value, Decimal):
        return amount_text(value)  # its digits, as both databases keep them
    return str(value)


def _same(before: object, after: object) -> bool:
    """Whether a field is unchanged: amounts to the digit (100.50 is not 100.5)."""
    if isinstance(before, Decimal) and isinstance(after, Decimal):
        return amount_text(before) == amount_text(after)
    return before == after


def change_row(
    sync_id: int, link_id: str, field: str, old: object, new: object, seen_at: datetime
) -> dict[str, Any]:
    """The ``payout_link_changes`` row of one field of a link, its values as text."""
    return {
        "sync_id": sync_id,
        "link_id": link_id,
        "field": field,
        "old_value": _text(old),
        "new_value": _text(new),
        "seen_at": seen_at,
    }


# The run that saw a link last, as the highest id: a run resumed after a later one saw the
# link leaves the later one's id, which finish_run of that later run counts on.
_LATEST = case(
    (links.c.last_sync_id > bindparam("sync_id"), links.c.last_sync_id),
    else_=bindparam("sync_id"),
)
# A changed link: every column again. An unchanged one is only touched (_TOUCH).
_UPDATE = (
    update(links)
    .where(links.c.link_id == bindparam("key"))
    .values(
        {name: bindparam(name) for name in LINK_FIELDS}
        | {
            "last_seen_at": bindparam("last_seen_at"),
            "last_sync_id": _LATEST,
            "missing_since": None,
        }
    )
)
# Built once, the keys bound at execution: 1,000 keys as literals cost more to coerce and
# to key SQLAlchemy's statement cache with than the lookup itself. SQLite's IN list is
# expanded into a parameter per key at every execution; PostgreSQL takes the keys as one
# array (= ANY): one statement, prepared once, and no SQL rendered per key.
_KEYS = {
    "sqlite": links.c.link_id.in_(bindparam("ids", expanding=True)),
    "postgresql": links.c.link_id == func.any(bindparam("ids", type_=ARRAY(Text))),
}
_LOOKUP = {
    backend: select(*(links.c[name] for name in FLAT_FIELDS), links.c.missing_since).where(keys)
    for backend, keys in _KEYS.items()
}
_TOUCH = {
    backend: update(links).where(keys).values(last_seen_at=bindparam("now"), last_sync_id=_LATEST)
    for backend, keys in _KEYS.items()
}  # Links looked up or touched per statement: SQLite allows 32,766 parameters, PostgreSQL
# 32,767.
_CHUNK = 1000
_AMOUNT = FLAT_FIELDS.index("amount")


@attrs.define
class _Diff:
    """What a transaction's links are against the stored ones."""

    added: list[tuple[Any, ...]] = attrs.Factory(list)  # new: flattened (the order of _NEW)
    touched: list[str] = attrs.Factory(list)  # unchanged: their ids
    rewritten: list[dict[str, Any]] = attrs.Factory(list)  # changed: _UPDATE's parameters
    changed_rows: list[dict[str, Any]] = attrs.Factory(list)  # a change row per field


async def store(
    conn: AsyncConnection, records: Sequence[PayoutLink], sync_id: int, now: datetime
) -> tuple[int, int]:
    """Upsert ``records``; a change row per field that differs. Returns (new, changed)."""
    latest = {link.link_id: link for link in records}  # a link twice: its last form
    if not latest:
        return 0, 0
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:
        # A plan for the lookups' actual keys, not PostgreSQL's generic plan for prepared
        # statements: made while the table looked empty, that one scans the whole table
        # for every page, and a first sync grows quadratic in the number of links.
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    known: dict[str, Sequence[Any]] = {}
    lookup, touch = _LOOKUP[conn.dialect.name], _TOUCH[conn.dialect.name]
    for chunk in _chunks(list(latest)):
        found = (await conn.execute(lookup, {"ids": chunk})).all()  # one fetch, not one a row
        known.update((row[0], row) for row in found)
    diff = _diff(latest, known, sync_id, now)
    for chunk in _chunks(diff.touched):
        await conn.execute(touch, {"ids": chunk, "now": now, "sync_id": sync_id})
    if diff.rewritten:
        await conn.execute(_UPDATE, diff.rewritten)
    if diff.changed_rows:
        await conn.execute(insert(changes), diff.changed_rows)
    if diff.added:
        if postgresql:
            # An INSERT has nothing to look up, and a custom plan for every row of an
            # executemany tripled the time PostgreSQL took to store a new link.
            await conn.execute(text("SET LOCAL plan_cache_mode = auto"))
        await _insert_new(conn, diff.added, now, sync_id)
    return len(diff.added), len(diff.rewritten)


def _diff(
    latest: Mapping[str, PayoutLink],
    known: Mapping[str, Sequence[Any]],
    sync_id: int,
    now: datetime,
) -> _Diff:
    """Each of ``latest`` new, unchanged or changed against ``known`` (the stored rows)."""
    diff = _Diff()
    for link_id, link in latest.items():
        values = flatten(link)
        old = known.get(link_id)
        if old is None:
            diff.added.append(values)  # in the order of _NEW
            continue
        # old: the flattened link as stored (FLAT_FIELDS, link_id first), missing_since.
        stored: tuple[Any, ...] = tuple(old[:-1])
        if stored == values and old[-1] is None and _same(stored[_AMOUNT], values[_AMOUNT]):
            diff.touched.append(link_id)  # the nightly case: nothing changed
            continue
        diff.changed_rows += [
            change_row(sync_id, link_id, name, before, after, now)
            for name, before, after in zip(LINK_FIELDS, stored[1:], values[1:], strict=True)
            if not _same(before, after)
        ]
        if old[-1] is not None:
            diff.changed_rows.append(
                change_row(sync_id, link_id, "missing_since", old[-1], None, now)
            )
        row = dict(zip(LINK_FIELDS, values[1:], strict=True))
        row.update(key=link_id, last_seen_at=now, sync_id=sync_id)
        diff.rewritten.append(row)
    return diff


# The columns of a new link: its own, in the order _diff builds them, then those the
# sync sets, the same for every link of a transaction.
_NEW = FLAT_FIELDS
_SET = ("first_seen_at", "last_seen_at", "last_sync_id")


async def _insert_new(
    conn: AsyncConnection, rows: list[tuple[Any, ...]], now: datetime, sync_id: int
) -> None:
    """``INSERT`` ``rows`` (values in the order of ``_NEW``) with the driver's executemany.

    SQLAlchemy compiles the statement for the connection's dialect and each column's own
    type converts its values (the same bind processors ``conn.execute`` would apply),
    a column at a time; only its per-row parameter handling is skipped: a dict built and
    read again for every link, measured at about half the cost of storing a new link
    (benchmarks/sync.py).
    """
    dialect = conn.dialect
    names = (*_NEW, *_SET)
    compiled = insert(links).compile(dialect=dialect, column_keys=list(names))
    order = [names.index(name) for name in compiled.positiontup or ()]
    if sorted(order) != list(range(len(names))):  # pragma: no cover  # SQLAlchemy changed
        raise RuntimeError(f"unexpected parameters in {compiled}")
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    columns += [[value] * len(rows) for value in (now, now, sync_id)]
    for index, name in enumerate(names):
        processor = links.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            if name in _SET:  # one value: converted once
                columns[index] = [processor(columns[index][0])] * len(rows)
            else:
                columns[index] = list(map(processor, columns[index]))
    converted = list(zip(*(columns[index] for index in order), strict=True))
    await conn.exec_driver_sql(str(compiled), converted)


# PostgreSQL's B-tree index entries (the primary key's) are at most 2,704 bytes, their own
# 12 bytes of headers included, after compression: a longer id may still fit, so it is
# blamed only when a transaction failed. NUMERIC keeps up to 16,383 digits after the point.
_POSTGRESQL_KEY_BYTES = 2704 - 12
_POSTGRESQL_SCALE = 16383


def _fraction_digits(value: Decimal) -> int:
    """How many digits ``value`` (a finite amount) has after the point."""
    return max(0, -int(value.as_tuple().exponent))


def unstorable(records: Sequence[PayoutLink], backend: str) -> UnstorableLinkError | None:
    """Why the database cannot store one of ``records`` (which, which field), if it cannot.

    Asked once a transaction has failed, never on the way. SQLite stores every value;
    PostgreSQL's text holds no NUL character, its driver takes no moment UTC cannot hold,
    its NUMERIC no amount past 16,383 digits after the point, and its index no key past
    2,692 bytes once compressed.
    """
    if backend != "postgresql":
        return None
    for link in records:
        for name, value in zip(FLAT_FIELDS, flatten(link), strict=True):
            why = None
            if isinstance(value, str) and "\x00" in value:
                why = "holds a NUL character, which PostgreSQL cannot store in text"
            elif (
                isinstance(value, Decimal)
                and (digits := _fraction_digits(value)) > _POSTGRESQL_SCALE
            ):
                why = (
                    f"has {digits:,} digits after the point, and "
                    f"PostgreSQL's NUMERIC keeps up to {_POSTGRESQL_SCALE:,}"
                )
            elif isinstance(value, datetime) and postgresql_refuses(value):
                why = f"is {value.isoformat()}, which PostgreSQL cannot store as a moment"
            if why is not None:
                return UnstorableLinkError(link_id=link.link_id, field=name, reason=why)
    for link in records:
        size = len(link.link_id.encode("utf-8", "surrogatepass"))
        if size > _POSTGRESQL_KEY_BYTES:
            return UnstorableLinkError(
                link_id=link.link_id,
                field="link_id",
                reason=f"is {size:,} bytes long, and PostgreSQL's index takes keys of up to "
                f"{_POSTGRESQL_KEY_BYTES:,}",
            )
    return None


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
