"""InstantPay's JSON into the models: the parsers, the converter and the page decoders.

This package owns everything that knows the wire: camelCase keys, money as exact
``Decimal``, datetimes in Indian time, the duplicate-key check, and the rules for
odd values. Three routes, one meaning (the tests compare them on thousands of
generated and edge records and pages):

- :mod:`.reference`: cattrs hooks, one per field. They define the rules, build the
  meta of every page, and take every record the common shape does not fit.
- :mod:`.fast`, the typed route: msgspec decodes a TXN page into untracked wire
  structs, and :mod:`.common` builds each link from its struct's values. It takes
  a page whose every record is in the common shape and whose every key the
  structs know.
- :mod:`.drift`, the dict route: msgspec parses to dicts; each record goes through
  :mod:`.common` too or, off the common shape, through the reference hooks. It
  takes the TXN pages the typed route refuses (InstantPay adds keys; a record
  can be odd).

Both msgspec routes check for duplicate keys by counting (:mod:`.duplicates`);
:mod:`.parsers` holds the strict and the fast JSON parser. What each route costs
and gains: benchmarks/README.md, "Where we stand", 1.
"""

from __future__ import annotations

from ...models import Page
from .drift import structure_page
from .fast import typed_page
from .parsers import decode_json, parse
from .reference import IST, envelope_details, make_converter

__all__ = [
    "IST",
    "decode_json",
    "decode_page",
    "envelope_details",
    "make_converter",
    "parse",
    "structure_page",
    "typed_page",
]


def decode_page(body: bytes, *, page: int) -> Page | None:
    """The TXN page in a 2xx answer's ``body``, by the fastest route that takes it.

    ``None`` when the body is JSON but no TXN envelope (an error, "No Record Found"):
    the caller reads it as one. ``ResponseFormatError`` for a body msgspec cannot
    parse (lone surrogates included: not JSON to us either), or a TXN page that
    does not hold links.
    """
    # A TXN page whose every record is in the common shape: the typed route.
    typed = typed_page(body, page=page)
    if typed is not None:
        return typed
    document = parse(body)
    if isinstance(document, dict) and document.get("statuscode") == "TXN":
        # A TXN page the typed route refused (a key its structs do not know, an odd
        # record, an escaped quote): the dict route, duplicate keys checked after.
        return structure_page(document, page=page, body=body)
    return None
