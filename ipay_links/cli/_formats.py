"""The export formats: JSON Lines, CSV and a JSON array, written exactly.

A link is written as its plain form (``_plain.to_plain``): the library's snake_case
field names, in the models' order; amounts as the exact decimal they were sent as
(``120.11``, never ``120.10999999``); datetimes in ISO 8601 with their +05:30 offset.
In CSV the contact details are flattened (``contact_name``, ``contact_email``,
``contact_mobile``) and the payment modes joined with ``|``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TextIO

import msgspec

from .._plain import to_plain
from ..models import PayoutLink

__all__ = ["CSV_FIELDS", "FORMATS", "Writer", "make_writer"]

FORMATS = ("jsonl", "csv", "json")
CSV_FIELDS = (
    "link_id",
    "status",
    "amount",
    "purpose",
    "description",
    "contact_name",
    "contact_email",
    "contact_mobile",
    "reference_no",
    "order_id",
    "url",
    "qr_url",
    "payment_modes",
    "verify_bene",
    "activated_at",
    "expired_at",
)
# Decimal as a JSON number with its exact digits.
_JSON = msgspec.json.Encoder(decimal_format="number")


def _csv_row(link: PayoutLink) -> list[str]:
    record = to_plain(link)
    contact = record.pop("contact_details") or {}
    record["contact_name"] = contact.get("name")
    record["contact_email"] = contact.get("email")
    record["contact_mobile"] = contact.get("mobile")
    record["amount"] = format(link.amount, "f")
    record["payment_modes"] = "|".join(link.payment_modes)
    verify = record["verify_bene"]
    record["verify_bene"] = None if verify is None else str(verify).lower()
    return ["" if record[name] is None else str(record[name]) for name in CSV_FIELDS]


class Writer:
    """Writes links to a text stream in one format; ``written`` links so far."""

    def __init__(self, out: TextIO, written: int = 0) -> None:
        self.out = out
        self.written = written

    def begin(self) -> None:
        """Whatever comes before the first link (a CSV header, a ``[``)."""

    def write(self, links: Sequence[PayoutLink]) -> None:
        raise NotImplementedError

    def end(self) -> None:
        """Whatever closes the output."""


class JsonLinesWriter(Writer):
    def write(self, links: Sequence[PayoutLink]) -> None:
        self.out.write("".join(_JSON.encode(to_plain(link)).decode() + "\n" for link in links))
        self.written += len(links)


class JsonArrayWriter(Writer):
    def begin(self) -> None:
        self.out.write("[")

    def write(self, links: Sequence[PayoutLink]) -> None:
        for link in links:
            self.out.write(
                ("\n" if self.written == 0 else ",\n") + _JSON.encode(to_plain(link)).decode()
            )
            self.written += 1

    def end(self) -> None:
        self.out.write("\n]\n" if self.written else "]\n")


class CsvWriter(Writer):
    def begin(self) -> None:
        self._rows([list(CSV_FIELDS)])

    def write(self, links: Sequence[PayoutLink]) -> None:
        self._rows([_csv_row(link) for link in links])
        self.written += len(links)

    def _rows(self, rows: list[list[str]]) -> None:
        buffer = io.StringIO()
        # RFC 4180 line ends: a field holding a CR or LF is then always quoted.
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        self.out.write(buffer.getvalue())


def make_writer(name: str, out: TextIO, written: int = 0) -> Writer:
    """The writer of format ``name`` (one of :data:`FORMATS`), ``written`` links in already."""
    kinds: dict[str, type[Writer]] = {
        "jsonl": JsonLinesWriter,
        "csv": CsvWriter,
        "json": JsonArrayWriter,
    }
    return kinds[name](out, written)
