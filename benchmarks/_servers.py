"""A loopback page server in its own process, so that serving costs the client nothing.

Each :class:`Dataset` is mounted under its own prefix, so one server process can
answer several benchmarks: the client is given ``http://127.0.0.1:PORT/<name>`` as
its ``base_url``. Pages are pre-serialized (``prebuilt``) or patched from one
template on demand; the server reads ``pagination.pageNumber`` from the JSON body
of the GET and ignores the credentials.

The process binds 127.0.0.1 only, and ends when its stdin closes or after
``--max-seconds``, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from aiohttp import web

from ipay_links.protocol import LIST_PATH

from ._pages import PageTemplate, no_record_found

__all__ = ["Dataset", "serve"]

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
_READY = "READY"


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


def _handler(dataset: Dataset) -> Callable[[web.Request], Awaitable[web.Response]]:
    template = PageTemplate(dataset.per_page, dataset.pages, seed=dataset.seed)
    body_of: Callable[[int], bytes] = template.body
    if dataset.prebuilt:
        bodies = [template.body(number) for number in range(1, dataset.pages + 1)]
        missing = no_record_found()

        def body_of(page: int) -> bytes:
            return bodies[page - 1] if 1 <= page <= len(bodies) else missing

    async def handle(request: web.Request) -> web.Response:
        page = _page_number(await request.read())
        if page is None:
            return web.Response(status=400, text="pagination.pageNumber must be a digit string")
        if dataset.latency:
            await asyncio.sleep(dataset.latency)
        return web.Response(body=body_of(page), content_type="application/json")

    return handle


async def _serve(datasets: Sequence[Dataset], max_seconds: float) -> None:
    app = web.Application()
    for dataset in datasets:
        app.router.add_get(f"/{dataset.name}{LIST_PATH}", _handler(dataset))
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, 0).start()
        print(_READY, runner.addresses[0][1], flush=True)
        stdin = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
        try:
            await asyncio.wait_for(stdin.read(), timeout=max_seconds)  # EOF: the parent is done
        except TimeoutError:
            print("page server: --max-seconds reached, stopping", file=sys.stderr)
    finally:
        await runner.cleanup()


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
