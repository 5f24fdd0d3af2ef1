"""An aiohttp web application that shares one ipay_links client across its handlers.

The client is created when the application starts and closed when it stops; every
request handler uses it, concurrently. ``GET /links?contact=...`` lists a customer's
payout links (by name, mobile number or email).

Try it against the simulator::

    ipay-links simulate --port 8080          # prints the credentials to export
    IPAY_CLIENT_ID=... IPAY_CLIENT_SECRET=... IPAY_ENDPOINT_IP=127.0.0.1 \\
    IPAY_BASE_URL=http://127.0.0.1:8080 python -m ipay_links.examples.webapp
    curl 'http://127.0.0.1:8081/links?contact=priya.rao0@example.in'
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

import ipay_links as il

CLIENT = web.AppKey("ipay_client", il.Client)
MAX_LINKS = 100


def make_app(**client_options: Any) -> web.Application:
    """The application, with one client for its whole life.

    The client is ``Client.from_env(**client_options)``: configured from the
    ``IPAY_*`` variables unless the options say otherwise.
    """
    app = web.Application()

    async def ipay_client(app: web.Application) -> AsyncIterator[None]:
        async with il.Client.from_env(**client_options) as client:
            app[CLIENT] = client
            yield

    app.cleanup_ctx.append(ipay_client)
    app.router.add_get("/links", links_by_contact)
    return app


async def links_by_contact(request: web.Request) -> web.Response:
    """A customer's payout links, newest first, at most ``MAX_LINKS``."""
    contact = request.query.get("contact", "").strip()
    if not contact:
        return web.json_response({"error": "give ?contact=<name, mobile or email>"}, status=400)
    client = request.app[CLIENT]
    # InstantPay asks for the end customer's IP with every call.
    walk = client.iter_links(contact=contact, max_items=MAX_LINKS, endpoint_ip=request.remote)
    try:
        links = [link async for link in walk]
    except il.ApiError as error:
        failure = {"error": error.status_message, "statuscode": error.statuscode}
        return web.json_response(failure | {"ipay_uuid": error.ipay_uuid}, status=502)
    except il.IpayError as error:
        return web.json_response({"error": str(error)}, status=502)
    return web.json_response(
        {
            "contact": contact,
            "links": [
                {
                    "link_id": link.link_id,
                    "status": str(link.status),
                    "amount": str(link.amount),  # exact, as text
                    "url": link.url,
                    "expires": None if link.expired_at is None else link.expired_at.isoformat(),
                }
                for link in links
            ],
        }
    )


def main() -> None:
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8081")))


if __name__ == "__main__":
    main()
