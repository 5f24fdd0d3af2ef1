"""A real PostgreSQL server for the database tests, on a loopback port.

``initdb`` makes a cluster in a temporary directory (trust authentication, superuser
``ipay``, locale C, UTF8); ``postgres`` runs it in the foreground on a free port of
127.0.0.1, with no Unix socket and no fsync, until the ``with`` block ends. Both refuse
to run as root: as root they run as the ``postgres`` system user Debian's package creates
(``nobody`` without it), in a directory of the system's temporary directory that user
owns (pytest's own, ``/tmp/pytest-of-root``, is root's alone).

The binaries come from the highest ``/usr/lib/postgresql/<version>/bin`` (Debian), else
from PATH. A missing server skips the tests, or fails them under ``CI=true`` (``.ci/run``
sets it, and installs ``postgresql``). Clients (``psql``, ``createdb``, asyncpg) connect
over TCP.

Fixtures: ``postgres``, the server, started once per session (so once per pytest-xdist
worker, each on a port of its own); ``postgres_url``, a new database on it for each
test. Wire them in ``tests/conftest.py`` with one line::

    from ._postgres import postgres_fixture, postgres_url_fixture  # noqa: F401

(the fixtures are named ``postgres`` and ``postgres_url``; their functions are not, so a
test's parameter shadows no import). Importing them in a test module too is harmless: a
second definition of ``postgres`` finds the session's server and starts none.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from ._infra import DEADLINE, PORT_TRIES, free_port

__all__ = ["PostgresServer", "postgres_fixture", "postgres_server", "postgres_url_fixture"]

SUPERUSER = "ipay"
# What initdb makes: the database of ``PostgresServer.url``. Tests take a new one each.
DEFAULT_DATABASE = "postgres"
# A database name that needs no quoting in SQL or in a URL.
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# For tests, never for data anyone keeps: no fsync, no Unix socket, loopback only.
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def _missing(message: str) -> NoReturn:
    """Skip, or fail under ``CI=true``: there a missing server is an error."""
    message += ": apt-get install -y postgresql (.ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def bin_directory() -> Path:
    """The directory of ``initdb``, ``postgres``, ``psql``: Debian's newest, else PATH's."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name))

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    if found is not None:
        # Through a symlink (/usr/local/bin/initdb) to the directory of its siblings.
        directory = Path(found).resolve().parent
        if (directory / "postgres").exists():
            return directory
    _missing("PostgreSQL's initdb is not installed")


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _client_environment() -> dict[str, str]:
    """Ours, less the ``PG*`` variables (a password, a service, SSL) a machine may set."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    environment.update(LC_ALL="C", PGCONNECT_TIMEOUT=str(int(DEADLINE)))
    return environment


@dataclass(frozen=True)
class _Account:
    """Who runs initdb and postgres: ``None`` ids for ourselves (when not root)."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def unprivileged(cls) -> _Account:
        if os.geteuid() != 0:
            return cls()
        import pwd

        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(entry.pw_uid, entry.pw_gid)
        _missing("running as root, and no postgres or nobody user to run PostgreSQL as")

    def options(self) -> dict[str, Any]:
        """Popen's arguments to run as this account (root's supplementary groups dropped)."""
        common: dict[str, Any] = {"stdin": subprocess.DEVNULL, "env": _client_environment()}
        if self.uid is None:
            return common
        return {**common, "user": self.uid, "group": self.gid, "extra_groups": []}


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL: its port, a URL for SQLAlchemy (asyncpg) and new databases.

    ``url`` names the ``postgres`` database initdb made; a test takes a database of its
    own with :meth:`new_database` (the ``postgres_url`` fixture does).
    """

    port: int
    bin_dir: Path
    log: Path
    user: str = SUPERUSER
    _names: Iterator[int] = field(default_factory=itertools.count, repr=False, compare=False)

    @property
    def url(self) -> str:
        """``postgresql+asyncpg://ipay@127.0.0.1:PORT/postgres``: initdb's database."""
        return self.url_for(DEFAULT_DATABASE)

    def url_for(self, database: str) -> str:
        """``postgresql+asyncpg://ipay@127.0.0.1:PORT/<database>``."""
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str | None = None) -> str:
        """Create the empty database ``name`` (``test_<n>`` if none) and return its URL."""
        name = f"test_{next(self._names)}" if name is None else name
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._client("createdb", "--template=template0", name)
        return self.url_for(name)

    def psql(self, sql: str, database: str = DEFAULT_DATABASE) -> str:
        """Run ``sql`` with psql; its rows, unaligned (``|`` between columns), one a line."""
        return self._client(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql
        )

    def _client(self, name: str, *arguments: str) -> str:
        argv = [str(self.bin_dir / name), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
        done = subprocess.run(
            [*argv, *arguments],
            capture_output=True,
            text=True,
            env=_client_environment(),
            timeout=DEADLINE,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{name} {' '.join(arguments)!r} exited ({done.returncode}):\n"
                f"{done.stderr}{done.stdout}\n-- server log --\n{_text(self.log)}"
            )
        return done.stdout


@contextmanager
def _workspace(directory: Path, account: _Account) -> Iterator[Path]:
    """Where the cluster lives: ``directory`` itself, or one ``account`` owns if not ours."""
    if account.uid is None:
        yield directory
        return
    assert account.gid is not None
    # mkdtemp: 0700, in /tmp (world-traversable); chowned, it is the account's alone.
    own = Path(tempfile.mkdtemp(prefix="ipay-postgres-"))
    try:
        os.chown(own, account.uid, account.gid)
        yield own
    finally:
        shutil.rmtree(own, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT: open connections are cut); kill the group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(DEADLINE)
            return
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group: backends included
    process.wait(DEADLINE)


def _ready(process: subprocess.Popen[bytes], data: Path, log: Path) -> bool:
    """True once postgres accepts connections; False if it exited as its port was taken.

    postmaster.pid's eighth line is ``ready`` once it does (what ``pg_ctl -w`` waits for).
    """
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            lines = (data / "postmaster.pid").read_text().splitlines()
            if lines[:1] == [str(process.pid)] and len(lines) >= 8 and lines[7].strip() == "ready":
                return True
        if process.poll() is not None:
            if "Address already in use" in _text(log):
                return False
            pytest.fail(f"postgres exited ({process.returncode}):\n{_text(log)}", pytrace=False)
        time.sleep(0.01)
    pytest.fail(f"postgres did not start in {DEADLINE:.0f} s:\n{_text(log)}", pytrace=False)


@contextmanager
def postgres_server(directory: Path) -> Iterator[PostgresServer]:
    """Run a new PostgreSQL cluster on a free loopback port; stopped (then killed) on exit.

    ``directory`` holds the logs (``initdb.log``, ``postgres.log``) and, unless we are
    root, the cluster; as root the cluster is in a directory of its own, removed on exit.
    """
    binaries = bin_directory()
    account = _Account.unprivileged()
    directory.mkdir(parents=True, exist_ok=True)
    with _workspace(directory, account) as home:
        data = home / "data"
        initdb_log = directory / "initdb.log"
        initdb = [
            *(str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER),
            *("-A", "trust", "--auth-local=trust", "--auth-host=trust"),
            *("--no-sync", "--locale=C", "--encoding=UTF8"),
        ]
        try:
            done = subprocess.run(
                initdb, capture_output=True, timeout=DEADLINE * 3, check=False, **account.options()
            )
        except subprocess.TimeoutExpired as error:  # run killed it
            initdb_log.write_bytes(error.output or b"")
            message = f"initdb took over {DEADLINE * 3:.0f} s:\n{_text(initdb_log)}"
            pytest.fail(message, pytrace=False)
        initdb_log.write_bytes(done.stdout + done.stderr)
        if done.returncode != 0:
            pytest.fail(f"initdb exited ({done.returncode}):\n{_text(initdb_log)}", pytrace=False)

        log = directory / "postgres.log"
        settings = [f"-c{name}={value}" for name, value in _SETTINGS.items()]
        for _ in range(PORT_TRIES):
            port = free_port()
            argv = [str(binaries / "postgres"), "-D", str(data), "-p", str(port), *settings]
            with log.open("wb") as out:
                process = subprocess.Popen(
                    argv, stdout=out, stderr=out, start_new_session=True, **account.options()
                )
            try:
                if _ready(process, data, log):
                    yield PostgresServer(port=port, bin_dir=binaries, log=log)
                    return
            finally:
                _stop(process)
        pytest.fail(f"postgres: no free port after {PORT_TRIES} tries", pytrace=False)


# The session's server: every module importing the fixture gets its own definition of it,
# which pytest would set up once each; the second and later find the first's server here.
_SERVER = pytest.StashKey[PostgresServer]()


@pytest.fixture(scope="session", name="postgres")
def postgres_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session."""
    stash = request.config.stash
    if _SERVER in stash:
        yield stash[_SERVER]
        return
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        stash[_SERVER] = server
        try:
            yield server
        finally:
            del stash[_SERVER]


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(postgres: PostgresServer) -> str:
    """A new, empty database for this test: ``postgresql+asyncpg://ipay@127.0.0.1:PORT/test_N``."""
    return postgres.new_database()
