"""Real servers for the network tests: nginx, tinyproxy and a test CA, on loopback ports.

Each server runs in the foreground, in a directory of the test's own (configuration, pid
file, logs, temporary files), and is stopped when its ``with`` block ends. A server counts
as started once it has written its pid file: both write it after binding their port, so
a port taken by another process is seen as an exit, never as a server that answers.

A missing binary skips the tests, or fails them under ``CI=true`` (``.ci/run`` sets it,
and installs ``nginx-light`` and ``tinyproxy``). Ports are picked free, and tried again
when taken: pytest-xdist's workers start servers side by side.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

__all__ = [
    "LocalCA",
    "Nginx",
    "Tinyproxy",
    "find_binary",
    "free_port",
    "nginx",
    "tinyproxy",
    "wait_until",
]

# Seconds a server may take to start or stop, and a log to show a line: generous, for a
# busy CI machine. Nothing waits this long when all goes well.
DEADLINE = 20.0
# Ports tried in turn when another process took the free port picked for a server.
PORT_TRIES = 5


def find_binary(name: str, *directories: str) -> str:
    """The path of ``name``, on PATH or in ``directories``; skip (fail under CI=true) if none."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *directories])
    found = shutil.which(name, path=search)
    if found is not None:
        return found
    message = f"{name} is not installed: apt-get install -y nginx-light tinyproxy (.ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    """A loopback port free right now (another process may take it before we bind it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(ready: Callable[[], bool], what: str) -> None:
    """Poll ``ready`` until it is true; fail naming ``what`` after :data:`DEADLINE` seconds."""
    deadline = time.monotonic() + DEADLINE
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {DEADLINE:.0f} s for {what}", pytrace=False)
        time.sleep(0.01)


def _text(*paths: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in paths if path.exists())


def _root_user() -> tuple[str, str] | None:
    """User and group 0 by name when we are root: servers stay root to reach our files."""
    if os.geteuid() != 0:
        return None
    import grp
    import pwd

    return pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` (then kill its process group, workers included, if it hangs)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(DEADLINE)
            return
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group: start_new_session=True
    process.wait(DEADLINE)


@contextmanager
def _serving(
    name: str, directory: Path, configure: Callable[[int], list[str]], logs: list[Path]
) -> Iterator[int]:
    """Run the command ``configure(port)`` returns (after writing its configuration).

    Yields the port once the server wrote ``directory/<name>.pid``; tries another port
    when the one picked was taken meanwhile; stops the server on exit.
    """
    pid_file = directory / f"{name}.pid"
    output = directory / f"{name}.out"
    for _ in range(PORT_TRIES):
        for stale in (pid_file, *logs):  # a failed try's words must not decide this one
            stale.unlink(missing_ok=True)
        port = free_port()
        argv = configure(port)
        with output.open("wb") as out:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        try:
            if _started(process, pid_file, [output, *logs]):
                yield port
                return
        finally:
            _stop(process)
    pytest.fail(f"{name}: no free port after {PORT_TRIES} tries", pytrace=False)


def _started(process: subprocess.Popen[bytes], pid_file: Path, logs: list[Path]) -> bool:
    """True once ``process`` wrote its pid file; False if it exited as its port was taken."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text().strip() == str(process.pid):
            return True
        if process.poll() is not None:
            text = _text(*logs)
            if "Address already in use" in text or "Could not create listening" in text:
                return False
            pytest.fail(f"{process.args!r} exited ({process.returncode}):\n{text}", pytrace=False)
        time.sleep(0.01)
    text = _text(*logs)
    pytest.fail(f"{process.args!r} did not start in {DEADLINE:.0f} s:\n{text}", pytrace=False)


# -- TLS ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalCA:
    """A test CA, and a certificate it issued for ``localhost`` and ``127.0.0.1``.

    ``pem`` is the CA's certificate in a file: for ``SSL_CERT_FILE`` or ``--ca-bundle``.
    """

    ca: trustme.CA
    cert: trustme.LeafCert
    pem: Path

    @classmethod
    def make(cls, directory: Path) -> LocalCA:
        ca = trustme.CA()
        pem = directory / "ca.pem"
        ca.cert_pem.write_to_path(pem)
        return cls(ca, ca.issue_cert("localhost", "127.0.0.1"), pem)

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting this CA only."""
        return ssl.create_default_context(cafile=str(self.pem))

    def server_context(self, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
        """A server context presenting ``cert`` (the localhost one by default)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        (cert or self.cert).configure_cert(context)
        return context

    def issue(self, *names: str, expired: bool = False) -> trustme.LeafCert:
        """Another certificate of this CA: for other names, or one that expired in 2001."""
        not_after = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC) if expired else None
        return self.ca.issue_cert(*names, not_after=not_after)


def write_cert(cert: trustme.LeafCert, directory: Path) -> tuple[Path, Path]:
    """``cert``'s chain and key as PEM files, for a server that reads files."""
    chain, key = directory / "server.crt", directory / "server.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(key)
    return chain, key


# -- nginx ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Nginx:
    """A running nginx: its address and its logs (the access log: ``status gzip_ratio``)."""

    url: str
    port: int
    access_log: Path
    error_log: Path

    def entries(self) -> list[tuple[int, str]]:
        """``(status, gzip ratio)`` of every request answered so far, in order.

        The ratio is ``"-"`` for an answer that was not compressed.
        """
        lines = _text(self.access_log).splitlines(keepends=True)
        # A line nginx is writing right now is counted once it is whole.
        fields = [line.split() for line in lines if line.endswith("\n")]
        return [(int(status), ratio) for status, ratio in fields]

    def statuses(self) -> list[int]:
        """The status of every request answered so far, in order."""
        return [status for status, _ in self.entries()]

    def wait_for_requests(self, count: int, status: int | None = None) -> list[int]:
        """The statuses, once ``count`` requests (of ``status``, if given) are logged.

        nginx logs a request once it has answered it: a client can have its answer first.
        """

        def logged() -> int:
            statuses = self.statuses()
            return len(statuses) if status is None else statuses.count(status)

        wait_until(lambda: logged() >= count, f"{count} requests in nginx's log")
        return self.statuses()


_NGINX_CONF = """\
{user}
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 256; }}
http {{
    log_format probe '$status $gzip_ratio';
    access_log {dir}/access.log probe;
    # Every temporary file in our directory (and none at all for proxied answers).
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    proxy_max_temp_file_size 0;
{http}
    server {{
        listen 127.0.0.1:{port}{ssl};
{tls}
{server}
    }}
}}
"""


@contextmanager
def nginx(
    directory: Path, server: str, *, http: str = "", cert: trustme.LeafCert | None = None
) -> Iterator[Nginx]:
    """Run nginx on a free loopback port with ``server`` as its server block's directives.

    ``http`` is added to the http block (a ``limit_req_zone``, a ``map``); with ``cert``
    the server speaks TLS with that certificate. Stopped (then killed) on exit.
    """
    binary = find_binary("nginx", "/usr/sbin")
    directory.mkdir(parents=True, exist_ok=True)
    tls = ""
    if cert is not None:
        chain, key = write_cert(cert, directory)
        tls = f"        ssl_certificate {chain};\n        ssl_certificate_key {key};"
    root = _root_user()

    def configure(port: int) -> list[str]:
        conf = _NGINX_CONF.format(
            user="" if root is None else f"user {root[0]} {root[1]};",
            dir=directory,
            port=port,
            ssl="" if cert is None else " ssl",
            tls=tls,
            http=http,
            server=server,
        )
        (directory / "nginx.conf").write_text(conf)
        # -e: where nginx writes before it has read error_log from the configuration.
        startup = directory / "startup.log"
        return [binary, "-p", str(directory), "-c", "nginx.conf", "-e", str(startup)]

    logs = [directory / "startup.log", directory / "error.log"]
    with _serving("nginx", directory, configure, logs) as port:
        scheme = "http" if cert is None else "https"
        yield Nginx(f"{scheme}://127.0.0.1:{port}", port, directory / "access.log", logs[1])


# -- tinyproxy ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tinyproxy:
    """A running tinyproxy: its URL (no credentials) and its log."""

    url: str
    port: int
    log: Path

    def connects(self) -> list[str]:
        """The ``host:port`` of every CONNECT it was asked for, in order.

        tinyproxy logs the request line before it opens the tunnel: once a client has
        an answer through the proxy, its CONNECT is in the log.
        """
        return re.findall(r"Request \(file descriptor \d+\): CONNECT (\S+)", _text(self.log))


@contextmanager
def tinyproxy(
    directory: Path,
    *,
    basic_auth: tuple[str, str] | None = None,
    connect_ports: tuple[int, ...] = (),
) -> Iterator[Tinyproxy]:
    """Run tinyproxy on a free loopback port, for clients on 127.0.0.1.

    ``basic_auth=(user, password)`` makes it ask for proxy credentials; ``connect_ports``
    limits CONNECT to those ports (every port when empty). Stopped (then killed) on exit.
    """
    binary = find_binary("tinyproxy", "/usr/bin", "/usr/sbin")
    directory.mkdir(parents=True, exist_ok=True)
    root = _root_user()
    log = directory / "tinyproxy.log"

    def configure(port: int) -> list[str]:
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            "Allow 127.0.0.1",
            "Timeout 60",
            "MaxClients 64",
            f'LogFile "{log}"',
            "LogLevel Connect",
            f'PidFile "{directory / "tinyproxy.pid"}"',
        ]
        if root is not None:
            lines += [f"User {root[0]}", f"Group {root[1]}"]
        if basic_auth is not None:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        lines += [f"ConnectPort {number}" for number in connect_ports]
        conf = directory / "tinyproxy.conf"
        conf.write_text("\n".join(lines) + "\n")
        return [binary, "-d", "-c", str(conf)]

    with _serving("tinyproxy", directory, configure, [log]) as port:
        yield Tinyproxy(f"http://127.0.0.1:{port}", port, log)
