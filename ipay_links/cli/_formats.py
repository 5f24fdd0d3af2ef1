"""The export formats: JSON Lines, CSV and a JSON array, written exactly.

A link is written as its plain form (``_plain.to_plain``): the library's snake_case
field names, in the models' order; amounts as the exact decimal they were sent as
(``120.11``, never ``120.10999999``); datetimes in ISO 8601 with their +05:30 offset.
In CSV the link is flattened (``_core/flat.py``, as the mirror's table is: the contact
details as ``contact_name``, ``contact_email``, ``contact_mobile``, the payment modes
joined with ``|``); a text cell that a
spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return) gets a leading ``'``, OWASP's rule against CSV injection, unless
``csv_raw``. The amount is a number and is never changed.

A file export checks what it resumes with :data:`RECORD_ENDS` (the last byte of a
whole page) and :func:`count_exported_links`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Protocol

import msgspec

from .._core.flat import FLAT_FIELDS, cell, flatten
from .._core.plain import to_plain
from ..models import PayoutLink

__all__ = [
    "CSV_FIELDS",
    "FORMATS",
    "RECORD_ENDS",
    "Output",
    "Writer",
    "count_exported_links",
    "make_writer",
    "neutral",
]

FORMATS = ("jsonl", "csv", "json")
# A CSV export's columns: the flattened link's, as the mirror's.
CSV_FIELDS = FLAT_FIELDS
# Cells never neutralised: numbers, which a spreadsheet must read as numbers.
_NUMBERS = frozenset({"amount"})
# A cell starting with one of these runs as a formula in a spreadsheet (OWASP).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The last byte of a whole page, by format; or of the preamble before any link
# (CSV's header ends a line too; JSON's ``[``).
RECORD_ENDS = {"jsonl": (b"\n",), "csv": (b"\n",), "json": (b"}", b"[")}
# Decimal as a JSON number with its exact digits.
_JSON = msgspec.json.Encoder(decimal_format="number")


class Output(Protocol):
    """Where a writer's text goes: a text stream, or a file export's page buffer."""

    def write(self, text: str, /) -> object: ...


def neutral(name: str, text: str) -> str:
    """``text``, the cell of column ``name``, as a spreadsheet shows it as text: a
    formula's first character escaped (never in a number's column)."""
    if name in _NUMBERS or not text.startswith(_FORMULA_STARTS):
        return text
    return "'" + text


def _csv_row(link: PayoutLink) -> list[str]:
    return [cell(value) for value in flatten(link)]


class Writer:
    """Writes links to a text stream in one format; ``written`` links so far."""

    def __init__(self, out: Output, written: int = 0) -> None:
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
    """CSV with a header; text cells neutralised against formulas unless ``raw``."""

    def __init__(self, out: Output, written: int = 0, *, raw: bool = False) -> None:
        super().__init__(out, written)
        self.raw = raw

    def begin(self) -> None:
        self._rows([list(CSV_FIELDS)])

    def write(self, links: Sequence[PayoutLink]) -> None:
        rows = [_csv_row(link) for link in links]
        if not self.raw:
            rows = [list(map(neutral, CSV_FIELDS, row)) for row in rows]
        self._rows(rows)
        self.written += len(links)

    def _rows(self, rows: list[list[str]]) -> None:
        buffer = io.StringIO()
        # RFC 4180 line ends: a field holding a CR or LF is then always quoted.
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        self.out.write(buffer.getvalue())


def make_writer(name: str, out: Output, written: int = 0, *, csv_raw: bool = False) -> Writer:
    """The writer of format ``name`` (one of :data:`FORMATS`), ``written`` links in already.

    ``csv_raw`` writes CSV cells as they are, formulas included.
    """
    if name == "csv":
        return CsvWriter(out, written, raw=csv_raw)
    kinds: dict[str, type[Writer]] = {"jsonl": JsonLinesWriter, "json": JsonArrayWriter}
    return kinds[name](out, written)


def count_exported_links(name: str, lines: Iterable[bytes]) -> int:
    """The links in ``lines``, an export's whole pages in format ``name``, line by line.

    A JSON Lines or JSON array export holds one new line per link (JSON strings
    escape theirs); a CSV cell may hold line breaks, so CSV is parsed. Raises
    ``ValueError`` (or ``csv.Error``) for bytes that are not such an export.
    """
    if name != "csv":
        return sum(line.count(b"\n") for line in lines)
    rows = sum(1 for _ in csv.reader(line.decode("utf-8") for line in lines))
    return max(0, rows - 1)  # the header
