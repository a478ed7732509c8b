"""A CSV upload's delimiter and decimal mark: detected from a bounded prefix of the upload, or named by the
client (`delimiter=` and `decimal=` on PUT /datasets/<name>), for every client alike.

Spreadsheets in much of Europe export `;`-separated files whose numbers are written `1,5`; read as commas
they became one column ("A dataset needs at least two columns"). Detection reads only the first
SNIFF_BYTES with the csv module (a state machine, no regular expression), so its cost is bounded whatever
the client sends: a delimiter is the one of `,` `;` and tab that splits the header into two or more fields
and every sniffed row into as many; a decimal comma is taken when the delimiter is `;` or tab and the
sniffed cells hold numbers written like `1,5` and none like `1.5`. When the prefix cannot decide, the
refusal names the parameter to send. Pure: no Redis, no web."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from common.errors import InvalidDataset, InvalidRequest, shown

SNIFF_BYTES = 64 * 1024  # the prefix detection reads: enough for hundreds of rows of a typical export
SNIFF_ROWS = 200  # rows of that prefix compared with the header
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "comma": ",", "semicolon": ";", "tab": "\t"}
DECIMALS = {".": ".", ",": ",", "point": ".", "comma": ","}
NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV's cells are separated and how its numbers write their decimal mark."""

    delimiter: str = ","
    decimal: str = "."

    @property
    def is_default(self) -> bool:
        return self.delimiter == "," and self.decimal == "."

    def describe(self) -> dict[str, str]:
        """As the upload's answer shows it: the characters themselves."""
        return {"delimiter": self.delimiter, "decimal": self.decimal}


COMMAS = CsvFormat()  # what the service always read, and earlier builds' stored CSV text


@dataclass(frozen=True)
class Requested:
    """The client's choices (None: detect it)."""

    delimiter: str | None = None
    decimal: str | None = None

    @classmethod
    def parse(cls, delimiter: str | None, decimal: str | None) -> Requested:
        """The query parameters checked: 400 naming the accepted values otherwise."""
        chosen = cls(_one_of(delimiter, DELIMITERS, "delimiter", "',' ';' or a tab (or comma, semicolon, tab)"),
                     _one_of(decimal, DECIMALS, "decimal", "'.' or ',' (or point, comma)"))
        if chosen.delimiter == "," and chosen.decimal == ",":
            raise InvalidRequest("decimal ',' needs another delimiter than ','; send delimiter=; (or tab).")
        return chosen

    @property
    def given(self) -> bool:
        return self.delimiter is not None or self.decimal is not None


def _one_of(value: str | None, accepted: dict[str, str], name: str, words: str) -> str | None:
    if value is None or value == "":
        return None
    found = accepted.get(value) if value in ("\t", " ") else accepted.get(value.strip().lower())
    if found is None:
        raise InvalidRequest(f"{name} {shown(value)} is not supported; send {words}.")
    return found


def _sniffed_lines(data: bytes) -> tuple[list[str], bool]:
    """The prefix's text as lines (split where the csv module splits them), and whether the upload goes on
    beyond it (its last line then is cut)."""
    prefix = data[:SNIFF_BYTES]
    cut = len(data) > SNIFF_BYTES
    if cut:
        prefix = prefix[: prefix.rfind(b"\n") + 1] or prefix
    text = prefix.decode("utf-8-sig", errors="replace")
    return list(io.StringIO(text, newline="")), cut


def _records(lines: list[str], delimiter: str, cut: bool) -> list[list[str]] | None:
    """The prefix's records split by `delimiter` (the csv module: quotes respected, a quoted line break kept
    in its field); None when the csv module cannot read them. A record the cut may have split is left out."""
    reader: Iterator[list[str]] = csv.reader(lines, delimiter=delimiter, strict=False)
    records: list[list[str]] = []
    try:
        for record in reader:
            if record:  # blank lines: pandas skips them too
                records.append(record)
            if len(records) > SNIFF_ROWS:
                return records
    except csv.Error:
        return None
    return records[:-1] if cut and len(records) > 1 else records


def _consistent(records: list[list[str]] | None) -> bool:
    """Two or more fields in the header, and as many in every sniffed row."""
    if not records:
        return False
    width = len(records[0])
    return width >= 2 and all(len(record) == width for record in records)


def _delimiter(lines: list[str], cut: bool) -> str:
    """The one candidate that splits every sniffed row as it splits the header; with none, the one that
    splits the header most (comma on a tie: what the service always read), so the parser's own error shows."""
    split = {d: _records(lines, d, cut) for d in NAMES}
    fitting = [d for d, records in split.items() if _consistent(records)]
    if len(fitting) > 1:
        named = " and ".join(NAMES[d] for d in fitting)
        raise InvalidDataset(f"The CSV could be separated by {named} alike (its first rows split evenly either "
                             "way); send delimiter= naming the one it uses (comma, semicolon or tab).",
                             details={"parameter": "delimiter", "candidates": [NAMES[d] for d in fitting]})
    if fitting:
        return fitting[0]
    widths = {d: len(records[0]) if records else 0 for d, records in split.items()}
    return max(NAMES, key=lambda d: (widths[d], d == ","))


def _number_with(cell: str, mark: str) -> bool:
    """Whether `cell` is a plain number with one `mark` between digits ("-1,5" for ","): character tests, no
    regular expression."""
    text = cell.strip().removeprefix("-").removeprefix("+")
    whole, found, fraction = text.partition(mark)
    return bool(found and whole and fraction and DIGITS.issuperset(whole) and DIGITS.issuperset(fraction))


def _decimal(lines: list[str], delimiter: str, cut: bool) -> str:
    """"," when the sniffed data cells hold numbers written with a decimal comma and none with a point."""
    records = _records(lines, delimiter, cut) or []
    cells = [cell for record in records[1:] for cell in record]
    commas = sum(_number_with(cell, ",") for cell in cells)
    points = sum(_number_with(cell, ".") for cell in cells)
    if commas and points:
        raise InvalidDataset(f"The CSV's numbers are written with a decimal comma ({commas} cells like 1,5) and "
                             f"a decimal point ({points} cells like 1.5); send decimal= naming the one it uses "
                             "(',' or '.').", details={"parameter": "decimal", "candidates": [",", "."]})
    return "," if commas else "."


def detect(data: bytes, requested: Requested | None = None) -> CsvFormat:
    """The upload's format: what the client named, the rest detected from its first SNIFF_BYTES."""
    requested = requested or Requested()
    lines, cut = _sniffed_lines(data)
    delimiter = requested.delimiter or _delimiter(lines, cut)
    if requested.decimal is not None:
        decimal = requested.decimal
    else:
        decimal = "." if delimiter == "," else _decimal(lines, delimiter, cut)
    if delimiter == decimal:
        raise InvalidRequest("decimal ',' needs another delimiter than ','; send delimiter=; (or tab).")
    return CsvFormat(delimiter, decimal)
