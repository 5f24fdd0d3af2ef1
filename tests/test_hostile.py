"""Hostile servers on a real socket: crafted answers must end in a typed error, soon."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import ipay_links as il
from ipay_links._core.protocol import LIST_PATH
from ipay_links.testing import FakeClock, Simulator, generate_links

from .conftest import FAST_RETRY

LINKS = generate_links(20, seed=3)
CREDENTIALS = Simulator(1).credentials


def envelope(records: list[dict[str, Any]], page: int, total: int) -> dict[str, Any]:
    meta = {
        "totalPages": -(-total // 10),
        "currentPage": page,
        "totalRecords": total,
        "recordsOnCurrentPage": len(records),
        "recordFrom": (page - 1) * 10 + 1,
        "recordTo": (page - 1) * 10 + len(records),
    }
    data = {"meta": meta, "records": records}
    return {"statuscode": "TXN", "status": "ok", "data": data, "ipay_uuid": "h-1"}


Answer = Callable[[int, int], dict[str, Any]]  # (page asked for, request number) -> envelope


@asynccontextmanager
async def answering(handler: Any) -> AsyncIterator[str]:
    """Serve ``handler`` for the list path on a loopback port; yields the base URL."""
    app = web.Application()
    app.router.add_route("*", LIST_PATH, handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def hostile(answer: Answer) -> AsyncIterator[tuple[str, list[int]]]:
    """Serve ``answer`` on a loopback port; yields the URL and the pages asked for."""
    asked: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        page = int(json.loads(await request.read())["pagination"]["pageNumber"])
        asked.append(page)
        return web.json_response(answer(page, len(asked)))

    async with answering(handle) as url:
        yield url, asked


async def collect(walk: il.LinkWalk, into: list[str]) -> None:
    async for link in walk:
        into.append(link.link_id)


def same_page_growing_total(page: int, number: int) -> dict[str, Any]:
    return envelope(LINKS[:10], page, 10**6 + number)


def two_pages_alternating_huge_total(page: int, number: int) -> dict[str, Any]:
    half = LINKS[:10] if number % 2 else LINKS[10:]
    return envelope(half, page, 10**9)


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("answer", [same_page_growing_total, two_pages_alternating_huge_total])
async def test_a_server_repeating_pages_ends_the_walk_with_a_format_error(
    answer: Answer, concurrency: int
) -> None:
    async with (
        hostile(answer) as (url, asked),
        il.Client(CREDENTIALS, base_url=url, retry=FAST_RETRY) as client,
    ):
        got: list[str] = []
        walk = client.iter_links(per_page=10, concurrency=concurrency)
        with pytest.raises(il.ResponseFormatError, match="no link that was not handed out"):
            await collect(walk, got)
    assert len(got) == len(set(got)) <= 20  # each link at most once
    assert len(asked) <= 12 + 3 * concurrency  # a few reads, whatever the totals claim


async def test_a_page_holding_more_links_than_its_own_total_is_refused() -> None:
    def lying(page: int, number: int) -> dict[str, Any]:
        return envelope(LINKS[(page - 1) * 10 : page * 10], page, 15)

    async with (
        hostile(lying) as (url, _),
        il.Client(CREDENTIALS, base_url=url, retry=FAST_RETRY) as client,
    ):
        with pytest.raises(il.ResponseFormatError, match="past the 15 links"):
            async for _ in client.iter_links(per_page=10):
                pass


async def test_a_server_sending_one_byte_at_a_time_cannot_hold_a_call_past_max_time() -> None:
    body = json.dumps(envelope(LINKS[:10], 1, 10)).encode()
    sent = 0

    async def slow_loris(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for byte in body:
            await response.write(bytes([byte]))  # each byte resets the read timeout
            sent += 1
            await asyncio.sleep(0.05)  # the server's pace, on purpose
        return response

    policy = il.RetryPolicy(max_tries=1, max_time=0.5)
    async with (
        answering(slow_loris) as url,
        il.Client(CREDENTIALS, base_url=url, retry=policy, read_timeout=5.0) as client,
    ):
        with pytest.raises(il.TransportError, match="timed out"):
            await client.fetch_page()
        # Ended by max_time (0.5 s), not by the body's 100+ s at a byte per 50 ms: the
        # call gave up while most of the body was still to come.
        assert sent < len(body) // 2


async def test_a_compressed_answer_is_bounded_by_its_decoded_size() -> None:
    text = b'{"statuscode":"ERR","status":"' + b"x" * (8 * 1024 * 1024) + b'"}'
    bomb = gzip.compress(text, 9)  # some 8 KB on the wire, with its Content-Length

    async def handle(request: web.Request) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=bomb, headers=headers)

    async with (
        answering(handle) as url,
        il.Client(CREDENTIALS, base_url=url, retry=None, max_response_size=1024 * 1024) as c,
    ):
        with pytest.raises(il.ResponseFormatError, match="larger than max_response_size"):
            await c.fetch_page()


async def test_an_injected_session_that_raises_for_status_changes_nothing() -> None:
    answers = iter(
        [web.Response(status=429, headers={"Retry-After": "3"}), web.Response(status=401)]
    )

    async def handle(request: web.Request) -> web.Response:
        return next(answers)

    clock = FakeClock()
    async with (
        answering(handle) as url,
        aiohttp.ClientSession(raise_for_status=True) as session,
        il.Client(CREDENTIALS, base_url=url, session=session, retry=FAST_RETRY, clock=clock) as c,
    ):
        with pytest.raises(il.AuthenticationError) as caught:
            await c.fetch_page()
    assert clock.sleeps == [3.0]  # the 429 was a RateLimitError, its Retry-After waited
    assert caught.value.http_status == 401 and caught.value.attempts == 2


async def test_an_injected_sessions_timeout_and_decompression_change_nothing() -> None:
    page = json.dumps(envelope([], 1, 0)).encode()

    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)  # longer than the session's own total timeout
        body = gzip.compress(page)
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    timeout = aiohttp.ClientTimeout(total=0.001)
    async with (
        answering(handle) as url,
        aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
        il.Client(CREDENTIALS, base_url=url, session=session, retry=None) as client,
    ):
        got = await client.fetch_page()
    assert got.meta.total_records == 0  # decoded, and not cut by the session's timeout


async def test_lone_surrogates_in_server_text_are_escaped() -> None:
    async def handle(request: web.Request) -> web.Response:
        body = '{"statuscode": "RPI", "status": "bad \\ud800 x", "ipay_uuid": "u\\udfff"}'
        return web.Response(status=400, text=body, content_type="application/json")

    async with answering(handle) as url, il.Client(CREDENTIALS, base_url=url) as client:
        with pytest.raises(il.ApiError) as caught:
            await client.fetch_page()
    error = caught.value
    str(error).encode("utf-8")  # printable to any UTF-8 stream, a log file's included
    assert "bad \\ud800 x" in error.status_message and error.ipay_uuid == "u\\udfff"


BOMB_CHILD = """
import asyncio, resource, sys, zlib
from aiohttp import web
import ipay_links as il
from ipay_links.testing import Simulator

def bomb(decoded_mib):
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip
    block = bytes(1024 * 1024)
    parts = [packer.compress(b'{"statuscode":"TXN","status":"') ]
    parts += [packer.compress(block) for _ in range(decoded_mib)]
    return b"".join(parts) + packer.flush()

async def main():
    body = bomb(int(sys.argv[1]))
    async def handle(request):
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    client = il.Client(Simulator(1).credentials, base_url=f"http://127.0.0.1:{port}", retry=None)
    async with client:
        try:
            await client.fetch_page()
        except il.ResponseFormatError as error:
            print("refused:", error)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("grew_kib", after - before)
    await runner.cleanup()

asyncio.run(main())
"""


def test_a_gzip_bomb_is_refused_in_memory_bounded_by_the_limit() -> None:
    # 512 MiB of zeros, about 0.5 MB on the wire; the default limit is 32 MiB.
    done = subprocess.run(
        [sys.executable, "-c", BOMB_CHILD, "512"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "refused: " in done.stdout and "larger than max_response_size" in done.stdout
    grew_mib = int(done.stdout.split("grew_kib")[1]) / 1024
    assert grew_mib < 3 * 32  # peak memory: under three times the limit, not 512 MiB
