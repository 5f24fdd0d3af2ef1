"""The mirror's errors: one family under IpayError, in the library's words, no secret.

The library's messages name its argument (``database``), never the command line's
option (``--db``) nor a command to run; the command line adds those where it shows them
(tests/test_sync.py checks its lines).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ipay_links as il
import ipay_links.db
import ipay_links.errors
from ipay_links.db import count_links
from ipay_links.db._engine import database_url
from ipay_links.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    IpayError,
    NotSyncedError,
    SchemaError,
    SyncBusyError,
    UnstorableLinkError,
)

FAMILY = (
    DatabaseError,
    DatabaseUnavailableError,
    NotSyncedError,
    SchemaError,
    SyncBusyError,
    UnstorableLinkError,
)


@pytest.mark.parametrize("error", FAMILY, ids=lambda error: error.__name__)
def test_every_database_error_is_an_ipay_error_exported_where_the_others_are(
    error: type[DatabaseError],
) -> None:
    assert issubclass(error, DatabaseError) and issubclass(error, IpayError)
    assert not issubclass(error, ValueError | TypeError | RuntimeError)
    assert getattr(il, error.__name__) is error
    assert error.__name__ in il.__all__ and error.__name__ in ipay_links.errors.__all__


def test_the_mirror_re_exports_the_names_it_always_had() -> None:
    assert ipay_links.db.SyncBusyError is SyncBusyError
    assert ipay_links.db.UnstorableLinkError is UnstorableLinkError
    assert {"SyncBusyError", "UnstorableLinkError"} <= set(ipay_links.db.__all__)


def test_an_unstorable_link_names_the_link_the_field_and_why() -> None:
    error = UnstorableLinkError(link_id="a\nb", field="purpose", reason="holds a NUL")
    assert (error.link_id, error.field, error.reason) == ("a\nb", "purpose", "holds a NUL")
    assert str(error) == "link 'a\\nb': purpose holds a NUL"


def test_the_librarys_messages_name_its_argument_not_the_command_lines_option() -> None:
    for bad in [
        "postgresql://user:s3cret@host:notaport/db",
        "sqlite:///mirror.db?mode=ro",
        "postgresql://h/db?x=1",
        "postgresql://h/db?sslmode=bogus",
        "postgresql://h:99999/db",
        "postgresql://h/db?sslmode=require&ssl=disable",
    ]:
        with pytest.raises(ValueError, match=r"^database: ") as caught:
            database_url(bad)
        assert "--db" not in str(caught.value) and "s3cret" not in str(caught.value)
    # Nor in any message of the mirror's code: the command line's words are its own.
    for module in Path(ipay_links.db.__file__).parent.glob("*.py"):
        code = module.read_text()
        assert "--db" not in code and "run ipay-links sync" not in code, module.name


async def test_a_mirror_not_there_is_not_synced(tmp_path: Path) -> None:
    with pytest.raises(NotSyncedError, match=r"^no database at .*absent\.db$"):
        await count_links(str(tmp_path / "absent.db"))
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(NotSyncedError, match=r"empty\.db holds no sync yet$"):
        await count_links(str(tmp_path / "empty.db"))


async def test_a_database_that_cannot_be_reached_is_unavailable_and_no_password_shown() -> None:
    # Nothing listens on port 1.
    for url in [
        "postgresql://ipay:s3cret@127.0.0.1:1/links",
        "postgresql://ipay@127.0.0.1:1/links?password=s3cret",
    ]:
        with pytest.raises(DatabaseUnavailableError, match=r"^the database failed: ") as caught:
            await count_links(url)
        assert "s3cret" not in str(caught.value)
        assert "s3cret" not in repr(caught.value)
