"""Mirror every payout link into a database, and record what changed: ``ipay-links sync``.

Needs the ``db`` extra (``pip install "ipay-links[db]"``: SQLAlchemy 2 with aiosqlite and
asyncpg); the rest of the library never imports it.

    async with Client.from_env() as client:
        report = await sync(client, "ipay-links.db")          # or postgresql://...
    async for change in changes_since("ipay-links.db", field="status"):
        print(change.link_id, change.old_value, "->", change.new_value)

The tables (``payout_links``, ``payout_link_changes``, ``sync_runs``) are described in
the README. What the database refuses or fails at is a :class:`~ipay_links.DatabaseError`
(``SyncBusyError`` and ``UnstorableLinkError`` are re-exported here).
"""

from ..errors import SyncBusyError, UnstorableLinkError
from ._engine import DEFAULT_DATABASE
from ._read import Change, changes_since, count_links
from ._schema import SCHEMA_VERSION
from ._sync import SyncReport, sync

__all__ = [
    "DEFAULT_DATABASE",
    "SCHEMA_VERSION",
    "Change",
    "SyncBusyError",
    "SyncReport",
    "UnstorableLinkError",
    "changes_since",
    "count_links",
    "sync",
]
