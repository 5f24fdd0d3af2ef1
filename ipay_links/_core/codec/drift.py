"""The dict route: TXN pages the typed route refuses, and the reference for whole pages.

InstantPay's drift makes such pages: a key the wire structs do not know (InstantPay
adds fields) sends every page here, one odd record its whole page. msgspec parses
the body to dicts (:func:`.parsers.parse`); each record in the common shape is
built by :func:`.common.common_link`, any other by the reference hooks. Given to
the reference hooks whole instead, such pages decode markedly slower
(benchmarks/README.md, "Where we stand", 1, has the numbers). With a ``converter``,
:func:`structure_page` is the reference for whole pages the tests hold both fast
routes to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import cattrs

from ...errors import ResponseFormatError
from ...models import Page, PageMeta, PayoutLink
from .common import CONTACT_KEYS, WIRE_NAMES, common_link, links_of
from .duplicates import count_strings, every_string_read
from .parsers import decode_json
from .reference import CONVERTER, amount, envelope_details, optional_str, reference_link

__all__ = ["dict_link", "structure_page"]

# The fields a record cannot do without, by wire name (README.md, "What you get").
_REQUIRED = ("linkId", "status", "amount")

_DICT_LINK_FIELDS = itemgetter(*WIRE_NAMES)
_DICT_CONTACT_FIELDS = itemgetter(*CONTACT_KEYS)


def dict_link(raw: Any) -> tuple[PayoutLink, int]:
    """A link from a parsed record, and the strings it was written with: the reference, fast.

    A record in the common shape is built by :func:`.common.common_link`; any other record
    goes to the reference hooks, which apply the tolerance rules or raise.
    """
    try:
        if len(raw) == len(WIRE_NAMES):
            contact = raw["contactDetails"]
            if contact is None or len(contact) == len(CONTACT_KEYS):
                return common_link(_DICT_LINK_FIELDS(raw), _DICT_CONTACT_FIELDS)
        # Keys the models do not know: the links are the same, the strings are more.
        link, _ = common_link(_DICT_LINK_FIELDS(raw), _DICT_CONTACT_FIELDS)
        return link, count_strings(raw)
    except Exception:  # noqa: BLE001  # Unusual, a missing key, an odd type: the rules decide
        return reference_link(raw, PayoutLink), count_strings(raw)


def _reference_builder(converter: cattrs.Converter) -> Callable[[Any], tuple[PayoutLink, int]]:
    """The reference counterpart of :func:`dict_link`, from ``converter``'s hooks."""
    hook = converter.get_structure_hook(PayoutLink)

    def build(raw: Any) -> tuple[PayoutLink, int]:
        return hook(raw, PayoutLink), count_strings(raw)

    return build


def _diagnose(record: object) -> str:
    """Say which required field of a record that failed to structure is at fault."""
    if not isinstance(record, Mapping):
        return f" is a JSON {type(record).__name__}, not an object"
    for name in _REQUIRED:
        if record.get(name) is None:
            return f": {name!r} is missing or null"
    try:
        amount(record["amount"], None)
    except (TypeError, ValueError, ArithmeticError):
        return ": 'amount' is not a finite decimal number"
    for name in ("linkId", "status"):
        if not isinstance(record[name], str) or not record[name]:
            return f": {name!r} is not a non-empty string"
    return " could not be read"


def _record_error(
    document: Mapping[str, Any],
    raw_records: list[Any],
    build: Callable[[Any], object],
    page: int,
) -> ResponseFormatError:
    """The error for the first record of a page that cannot be structured."""
    index, raw = 0, None
    for index, raw in enumerate(raw_records, start=1):  # noqa: B007  # the last one is wanted
        try:
            build(raw)
        except Exception:  # noqa: BLE001
            break
    return ResponseFormatError(
        f"page {page}: record {index}{_diagnose(raw)}",
        ipay_uuid=optional_str(document.get("ipay_uuid"), None),
    )


def _structure(
    document: Mapping[str, Any], page: int, converter: cattrs.Converter | None
) -> tuple[Page, int]:
    """The page, and the number of JSON strings (keys and values) it was read from."""
    build = dict_link if converter is None else _reference_builder(converter)
    converter = converter or CONVERTER
    data = document.get("data")
    if not isinstance(data, Mapping):
        raise ResponseFormatError(f"page {page}: 'data' is not an object")
    raw_meta = data.get("meta")
    try:
        meta = converter.structure(raw_meta, PageMeta)
    except Exception:  # noqa: BLE001  # any failure on untrusted input is a format error
        raise ResponseFormatError(
            f"page {page}: 'meta' is missing or not the documented shape"
        ) from None
    raw_records = data.get("records")
    if raw_records is None:
        raw_records = []
    if not isinstance(raw_records, list):
        raise ResponseFormatError(f"page {page}: 'records' is not a list")
    try:
        records, strings = links_of(raw_records, build)
    except Exception:  # noqa: BLE001  # _diagnose names the record and the field at fault
        raise _record_error(document, raw_records, build, page) from None
    strings += count_strings(document, skip=raw_records)
    return Page(meta=meta, records=records, **envelope_details(document)), strings


def structure_page(
    document: Mapping[str, Any],
    *,
    page: int,
    body: bytes | None = None,
    converter: cattrs.Converter | None = None,
) -> Page:
    """Structure a TXN envelope into a :class:`Page` of links.

    Records go through :func:`dict_link`, or through ``converter``'s hooks when one
    is given. With ``body`` (the raw answer ``document`` was parsed from by
    :func:`.parsers.parse`), the strings read are counted against the body's; on any
    difference the body is parsed again by :func:`.parsers.decode_json`, which refuses
    duplicate keys.
    """
    try:
        structured, strings = _structure(document, page, converter)
    except ResponseFormatError:
        if body is not None:
            # A duplicate key can hide the real shape (msgspec kept the last value):
            # it is the error to report, not what the last value broke.
            decode_json(body)
        raise
    if body is not None and not every_string_read(body, strings):
        structured, _ = _structure(decode_json(body), page, converter)
    return structured
