"""The three ways to walk every page that the walk benchmark compares.

Each opens its own HTTP session (our client opens one lazily), sends the GET
with a JSON body that InstantPay documents, reads every page the server's
``totalPages`` announces, touches every link, and returns how many it saw.
"""

from __future__ import annotations

from typing import Any

import aiohttp

import ipay_links
from ipay_links._core.protocol import LIST_PATH

from ._pages import CREDENTIALS_HEADERS, request_body

__all__ = ["CREDENTIALS", "walk_ours", "walk_pydantic", "walk_raw"]

CREDENTIALS = ipay_links.Credentials("bench-id", "bench-secret", "127.0.0.1")
# Bounds every hand-written loop: no benchmark dataset has this many pages.
MAX_PAGES = 100_000


async def walk_ours(base_url: str, per_page: int) -> int:
    count = 0
    async with ipay_links.Client(CREDENTIALS, base_url=base_url) as client:
        async for _link in client.iter_links(per_page=per_page):
            count += 1
    return count


async def _get(session: aiohttp.ClientSession, url: str, page: int, per_page: int) -> bytes:
    body = request_body(page, per_page)
    async with session.get(url, headers=CREDENTIALS_HEADERS, data=body) as response:
        response.raise_for_status()
        return await response.read()


async def walk_pydantic(base_url: str, per_page: int, envelope_model: Any) -> int:
    """``envelope_model`` is ``_pydantic_models.Envelope``: the walk a user would write."""
    count = 0
    url = base_url + LIST_PATH
    async with aiohttp.ClientSession() as session:
        for page in range(1, MAX_PAGES + 1):
            envelope = envelope_model.model_validate_json(await _get(session, url, page, per_page))
            if envelope.statuscode != "TXN" or envelope.data is None:
                raise RuntimeError(f"page {page}: {envelope.statuscode} {envelope.status}")
            for _link in envelope.data.records:
                count += 1
            if not envelope.data.records or page >= envelope.data.meta.total_pages:
                break
    return count


async def walk_raw(base_url: str, per_page: int, orjson: Any) -> int:
    """Untyped: ``orjson.loads`` and dicts, the least work a walk can do."""
    count = 0
    url = base_url + LIST_PATH
    async with aiohttp.ClientSession() as session:
        for page in range(1, MAX_PAGES + 1):
            data = orjson.loads(await _get(session, url, page, per_page))["data"]
            for _link in data["records"]:
                count += 1
            if not data["records"] or page >= data["meta"]["totalPages"]:
                break
    return count
