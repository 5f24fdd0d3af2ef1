"""A nightly reconciliation job: every CLAIMED link into a CSV, resumable after a failure.

It walks the links eight pages at a time and saves a checkpoint after every page
(the walk's checkpoint and how far the CSV is whole). If the job dies, running it
again cuts the CSV back to the last whole page and goes on from there: no link is
lost or written twice.

    IPAY_CLIENT_ID=... IPAY_CLIENT_SECRET=... IPAY_ENDPOINT_IP=... \\
    python -m ipay_links.examples.reconcile claimed.csv
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from pathlib import Path

import ipay_links as il

HEADER = ["link_id", "amount", "order_id", "reference_no", "activated_at"]


def _row(link: il.PayoutLink) -> list[str]:
    activated = "" if link.activated_at is None else link.activated_at.isoformat()
    amount = format(link.amount, "f")  # exact, never 1E+2
    return [link.link_id, amount, link.order_id or "", link.reference_no or "", activated]


async def reconcile(client: il.Client, out: Path, *, concurrency: int = 8) -> int:
    """Write every CLAIMED link to ``out``; returns how many links this run wrote."""
    saved = out.with_name(out.name + ".checkpoint")
    if saved.exists():
        state = json.loads(saved.read_text())
        with out.open("r+b") as whole:
            whole.truncate(state["offset"])  # drop rows written after the last whole page
        walk = client.iter_pages(
            resume=il.Checkpoint.from_dict(state["checkpoint"]), concurrency=concurrency
        )
        mode = "a"
    else:
        walk = client.iter_pages(
            status=il.LinkStatus.CLAIMED, per_page=100, concurrency=concurrency
        )
        mode = "w"
    written = 0
    with out.open(mode, newline="", encoding="utf-8") as handle:
        rows = csv.writer(handle)
        if mode == "w":
            rows.writerow(HEADER)
        async with walk:
            async for page in walk:
                rows.writerows(_row(link) for link in page.records)
                written += len(page.records)
                handle.flush()
                state = {"checkpoint": walk.checkpoint.to_dict(), "offset": handle.tell()}
                temporary = saved.with_name(saved.name + ".tmp")
                temporary.write_text(json.dumps(state))
                os.replace(temporary, saved)  # never half a checkpoint
    saved.unlink(missing_ok=True)
    return written


async def _main(out: Path) -> int:
    async with il.Client.from_env() as client:
        return await reconcile(client, out)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "claimed.csv")
    print(f"{asyncio.run(_main(out))} CLAIMED links written to {out}")


if __name__ == "__main__":
    main()
