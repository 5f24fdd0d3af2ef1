"""A loopback page server in its own process, so that serving costs the client nothing.

Each :class:`Dataset` is mounted under its own prefix, so one server process can
answer several benchmarks: the client is given ``http://127.0.0.1:PORT/<name>`` as
its ``base_url``. Pages are pre-serialized (``prebuilt``) or patched from one
template on demand; the server reads ``pagination.pageNumber`` from the JSON body
of the GET and ignores the credentials.

The server is a bare asyncio protocol that speaks just the HTTP/1.1 an aiohttp
client sends (a request line, headers, a ``Content-Length`` body; keep-alive), with
every answer's bytes, headers included, ready before it is due. An answer "after
50 ms" leaves 50 ms after its request was read, whatever else the server is doing:
a web framework would add its own time per request, and under 16 requests at once
that time piles up into the latency the benchmark means to hold fixed.

The process binds 127.0.0.1 only, and ends when its stdin closes or after
``--max-seconds``, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ipay_links._core.protocol import LIST_PATH

from ._pages import PageTemplate, no_record_found

__all__ = ["Dataset", "serve"]

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
_READY = "READY"
_END_OF_HEAD = b"\r\n\r\n"
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Dataset:
    """``pages`` pages of ``per_page`` links at ``/<name>``, each answer after ``latency`` s."""

    name: str
    per_page: int
    pages: int
    latency: float = 0.0
    prebuilt: bool = False
    seed: int = 0


def _page_number(raw: bytes) -> int | None:
    try:
        number = json.loads(raw)["pagination"]["pageNumber"]
        return int(number) if isinstance(number, str) and number.isdigit() else None
    except (ValueError, KeyError, TypeError):
        return None


def _answer(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}"
    return head.encode() + _END_OF_HEAD + body


_BAD_REQUEST = _answer(
    "400 Bad Request", b"pagination.pageNumber must be a digit string", "text/plain"
)
_NOT_FOUND = _answer("404 Not Found", b"no such dataset", "text/plain")


class _Route:
    """One dataset: the full answer for each page number, and its latency."""

    def __init__(self, dataset: Dataset) -> None:
        self.latency = dataset.latency
        template = PageTemplate(dataset.per_page, dataset.pages, seed=dataset.seed)
        missing = _answer("200 OK", no_record_found())
        if dataset.prebuilt:
            answers = [_answer("200 OK", template.body(n)) for n in range(1, dataset.pages + 1)]

            def answer(page: int) -> bytes:
                return answers[page - 1] if 1 <= page <= len(answers) else missing

        else:

            def answer(page: int) -> bytes:
                return _answer("200 OK", template.body(page))  # past the end: no record

        self.answer: Callable[[int], bytes] = answer


class _Connection(asyncio.Protocol):
    """One client connection: read each request whole, answer it when it is due."""

    def __init__(self, routes: dict[bytes, _Route]) -> None:
        self._routes = routes
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        # Answers not yet sent, with when each is due: in request order, as HTTP/1.1
        # wants for requests sent one after another on a connection.
        self._due: deque[tuple[float, bytes]] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        read_at = self._loop.time()
        self._buffer += data
        while (request := self._next_request()) is not None:
            path, body = request
            route = self._routes.get(path)
            page = None if route is None else _page_number(body)
            if route is None:
                self._answer(read_at, _NOT_FOUND)
            elif page is None:
                self._answer(read_at, _BAD_REQUEST)
            else:
                self._answer(read_at + route.latency, route.answer(page))

    def _answer(self, due: float, answer: bytes) -> None:
        self._due.append((due, answer))
        if len(self._due) == 1:
            self._send_due()

    def _send_due(self) -> None:
        """Send every answer that is due, in order; wake again for the next one."""
        now = self._loop.time()
        while self._due and self._due[0][0] <= now:
            self._send(self._due.popleft()[1])
        if self._due:
            self._loop.call_at(self._due[0][0], self._send_due)

    def _next_request(self) -> tuple[bytes, bytes] | None:
        """The path and body of the first whole request in the buffer, taken out of it."""
        end = self._buffer.find(_END_OF_HEAD)
        if end < 0:
            if len(self._buffer) > _MAX_HEAD and self._transport is not None:
                self._transport.close()
            return None
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        start = end + len(_END_OF_HEAD)
        if len(self._buffer) < start + length:
            return None
        body = bytes(self._buffer[start : start + length])
        del self._buffer[: start + length]
        parts = lines[0].split(b" ")
        return (parts[1] if len(parts) == 3 else b""), body

    def _send(self, answer: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(answer)


async def _serve(datasets: Sequence[Dataset], max_seconds: float) -> None:
    routes = {f"/{d.name}{LIST_PATH}".encode(): _Route(d) for d in datasets}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(routes), HOST, 0)
    try:
        print(_READY, server.sockets[0].getsockname()[1], flush=True)
        stdin = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
        try:
            await asyncio.wait_for(stdin.read(), timeout=max_seconds)  # EOF: the parent is done
        except TimeoutError:
            print("page server: --max-seconds reached, stopping", file=sys.stderr)
    finally:
        server.close()


@contextmanager
def serve(datasets: Sequence[Dataset], *, max_seconds: float = 1800) -> Iterator[dict[str, str]]:
    """Start a page server process; yield each dataset's ``base_url`` by name; stop it."""
    spec = json.dumps([asdict(dataset) for dataset in datasets])
    command = [sys.executable, "-m", "benchmarks._servers", "--max-seconds", str(max_seconds)]
    process = subprocess.Popen(  # noqa: S603  # our own interpreter and module, no shell
        [*command, spec], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        line = process.stdout.readline().split()
        if len(line) != 2 or line[0] != _READY:
            raise RuntimeError(f"the page server did not start (said {line!r})")
        yield {dataset.name: f"http://{HOST}:{line[1]}/{dataset.name}" for dataset in datasets}
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-seconds", type=float, default=1800)
    parser.add_argument("datasets", help="a JSON list of Dataset fields")
    args = parser.parse_args()
    datasets = [Dataset(**fields) for fields in json.loads(args.datasets)]
    asyncio.run(_serve(datasets, args.max_seconds))


if __name__ == "__main__":
    main()
