"""Realistic InstantPay answers, serialized once, ahead of any timing.

Links come from ``ipay_links.testing.generate_links`` and are wrapped in the
simulator's own envelope, so every page is byte for byte what the simulator sends.
"""

from __future__ import annotations

import json
from typing import Any

from ipay_links.testing import Simulator, generate_links

__all__ = [
    "CREDENTIALS_HEADERS",
    "PageTemplate",
    "distinct_pages",
    "no_record_found",
    "request_body",
]

_SIMULATOR = Simulator([])
# Stands for the first six hex digits of every link id: each page writes its number there.
_MARK = "~~~~~~"
_RECORDS_SLOT = "@@records@@"

CREDENTIALS_HEADERS = {
    "X-Ipay-Auth-Code": "1",
    "X-Ipay-Client-Id": "bench-id",
    "X-Ipay-Client-Secret": "bench-secret",
    "X-Ipay-Endpoint-Ip": "127.0.0.1",
    "Content-Type": "application/json",
    "Accept": "application/json",
}


def request_body(page: int, per_page: int) -> bytes:
    """The JSON body of a list request, with the page numbers as strings like the reference."""
    pagination = {"pageNumber": str(page), "recordsPerPage": str(per_page)}
    return json.dumps({"pagination": pagination}, separators=(",", ":")).encode()


def _meta(page: int, per_page: int, total_pages: int, on_page: int) -> dict[str, int]:
    first = (page - 1) * per_page + 1
    return {
        "totalPages": total_pages,
        "currentPage": page,
        "totalRecords": total_pages * per_page,
        "recordsOnCurrentPage": on_page,
        "recordFrom": first,
        "recordTo": first + on_page - 1,
    }


def _envelope(data: Any) -> dict[str, Any]:
    return _SIMULATOR.envelope("TXN", "Transaction Successful", data)


def no_record_found() -> bytes:
    return json.dumps(_SIMULATOR.envelope("ERR", "No Record Found")).encode()


def distinct_pages(pages: int, per_page: int, *, seed: int) -> list[bytes]:
    """``pages`` full pages of ``per_page`` links, every link different, as bytes."""
    links = generate_links(pages * per_page, seed=seed)
    bodies = []
    for index in range(pages):
        records = links[index * per_page : (index + 1) * per_page]
        meta = _meta(index + 1, per_page, pages, len(records))
        bodies.append(json.dumps(_envelope({"meta": meta, "records": records})).encode())
    return bodies


class PageTemplate:
    """Pages of ``per_page`` links made from one serialized page, cheaply, on demand.

    Page ``n`` is the template with ``n`` (6 hex digits) as the start of every link id,
    so link ids are distinct across up to 16 million pages, and its own ``meta``.
    """

    def __init__(self, per_page: int, total_pages: int, *, seed: int) -> None:
        records = generate_links(per_page, seed=seed)
        for record in records:
            record["linkId"] = _MARK + record["linkId"][len(_MARK) :]
        self.per_page = per_page
        self.total_pages = total_pages
        self._records = json.dumps(records).encode()
        self._mark = _MARK.encode()

    def body(self, page: int) -> bytes:
        if not 1 <= page <= self.total_pages:
            return no_record_found()
        meta = _meta(page, self.per_page, self.total_pages, self.per_page)
        head, tail = json.dumps(_envelope({"meta": meta, "records": _RECORDS_SLOT})).split(
            json.dumps(_RECORDS_SLOT)
        )
        records = self._records.replace(self._mark, b"%06x" % page)
        return b"".join((head.encode(), records, tail.encode()))
