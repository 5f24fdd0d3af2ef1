"""The mirror's tables, in SQLAlchemy Core: one definition for SQLite and PostgreSQL.

Two column types keep values exact on both: :class:`ExactDecimal` (``NUMERIC`` in
PostgreSQL, the decimal's own text in SQLite: never a float) and :class:`Moment` (an
aware datetime: ``timestamptz`` in PostgreSQL, ISO 8601 text with its offset in SQLite).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from .._core.flat import FLAT_FIELDS

__all__ = [
    "LINK_FIELDS",
    "SCHEMA_VERSION",
    "ExactDecimal",
    "Moment",
    "amount_text",
    "changes",
    "links",
    "metadata",
    "postgresql_refuses",
    "runs",
    "settings",
    "utc_text",
]

# The schema this version writes; a database with a newer one is refused, an older one
# migrated (see prepare in _runs.py).
SCHEMA_VERSION = 1


# The conversions are the types' bind and result processors themselves, one plain
# function per value: a sync converts some 80 values per link, and the layers of
# TypeDecorator.process_bind_param cost about as much as the database's own insert.


def amount_text(value: Decimal) -> str:
    """An amount's digits as PostgreSQL's ``NUMERIC`` keeps them: in positional notation
    (``1E+3`` is ``1000``), the fraction's digits kept (``100.50`` is not ``100.5``), and no
    negative zero. The mirror stores, compares and reports amounts in this form, so that
    both databases hold the same text and a re-sync sees no change where there is none.
    """
    if value.is_zero():
        value = abs(value)
    return format(value, "f")


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else amount_text(value)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _checked(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"a datetime without a zone cannot be stored: {value}")
    return value


def postgresql_refuses(value: datetime) -> bool:
    """Whether asyncpg cannot store the aware ``value`` as itself: a moment UTC cannot hold
    (it raises), or UTC's very first or last microsecond (it stores them as -infinity and
    infinity)."""
    if 1 < value.year < 9999:  # an offset moves a moment by less than a day
        return False
    try:
        utc = value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return True
    return utc in (datetime.min, datetime.max)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if postgresql_refuses(_checked(value)):
        raise OverflowError(f"PostgreSQL cannot store {value.isoformat()} as a moment")
    return value


def utc_text(value: datetime) -> str:
    """An aware datetime as ISO 8601 text in UTC, so that moments sort as their text does.

    A moment UTC cannot hold (the first hours of year 1 in Indian time) keeps its own
    offset: still exact, and read back as the same moment.
    """
    try:
        return _checked(value).astimezone(UTC).isoformat()
    except OverflowError:
        return value.isoformat()


def _utc_text(value: datetime | None) -> str | None:
    return None if value is None else utc_text(value)


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


class ExactDecimal(TypeDecorator[Decimal]):
    """A ``Decimal`` stored exactly: ``NUMERIC`` where the database has it, text elsewhere."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(Text())

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        return None if dialect.name == "postgresql" else _decimal_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        return None if dialect.name == "postgresql" else _decimal

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        processor = self.bind_processor(dialect)
        return value if processor is None else processor(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return _decimal(value)


class Moment(TypeDecorator[datetime]):
    """An aware datetime: ``timestamptz`` in PostgreSQL, ISO 8601 text in UTC elsewhere."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(Text())

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        return _aware if dialect.name == "postgresql" else _utc_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        return None if dialect.name == "postgresql" else _moment

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        processor = self.bind_processor(dialect)
        return value if processor is None else processor(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return _moment(value)


metadata = MetaData()

settings = Table(
    "ipay_links_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", Moment, nullable=False),
    Column("ended_at", Moment),
    # The walk's query, as canonical JSON: a later sync with the same one resumes it.
    Column("query", Text, nullable=False),
    # running (or killed while it was), complete, failed, interrupted, abandoned.
    Column("state", String(16), nullable=False),
    Column("checkpoint", Text),
    Column("seen", Integer, nullable=False, default=0),
    Column("new", Integer, nullable=False, default=0),
    Column("changed", Integer, nullable=False, default=0),
    Column("missing", Integer, nullable=False, default=0),
    Column("stats", Text),
    Column("error", Text),
)

# Every field of PayoutLink but its key, the contact flattened, in the order of the class
# (the flattened link's, _core/flat.py).
LINK_FIELDS = FLAT_FIELDS[1:]


# The column of each field of the flattened link, by name (a field with none fails the
# import). Text, not VARCHAR(n): whatever InstantPay sends is stored, however long.
_LINK_COLUMNS: dict[str, tuple[type[TypeEngine[Any]], dict[str, Any]]] = {
    "link_id": (Text, {"primary_key": True}),
    "status": (Text, {"nullable": False}),
    "amount": (ExactDecimal, {"nullable": False}),
    "purpose": (Text, {}),
    "description": (Text, {}),
    "contact_name": (Text, {}),
    "contact_email": (Text, {}),
    "contact_mobile": (Text, {}),
    "reference_no": (Text, {}),
    "order_id": (Text, {}),
    "url": (Text, {}),
    "qr_url": (Text, {}),
    # The modes joined with "|", as in a CSV export ("ACCOUNT|VPA").
    "payment_modes": (Text, {"nullable": False}),
    "verify_bene": (Boolean, {}),
    "activated_at": (Moment, {}),
    "expired_at": (Moment, {}),
}


links = Table(
    "payout_links",
    metadata,
    *(Column(name, _LINK_COLUMNS[name][0], **_LINK_COLUMNS[name][1]) for name in FLAT_FIELDS),
    Column("first_seen_at", Moment, nullable=False),
    Column("last_seen_at", Moment, nullable=False),
    # A sync_runs id, but no foreign key: PostgreSQL checks one with a lookup of sync_runs
    # for every link stored or touched (a fifth of a first sync's time there), and only
    # a sync writes the column, with its own run's id.
    Column("last_sync_id", Integer, nullable=False),
    # Set when a complete, unfiltered sync no longer sees the link; never deleted.
    Column("missing_since", Moment),
)

changes = Table(
    "payout_link_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sync_id", Integer, ForeignKey("sync_runs.id"), nullable=False),
    Column("link_id", Text, nullable=False),
    Column("field", String(32), nullable=False),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("seen_at", Moment, nullable=False),
    Index("payout_link_changes_link_id", "link_id"),
    Index("payout_link_changes_seen_at", "seen_at"),
    Index("payout_link_changes_sync_id", "sync_id"),
)
