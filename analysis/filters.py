"""The strict grammar of `demographic_filters` and its evaluation on a data frame.

Grammar (one filter per string, all filters are ANDed):
    <column> <op> <value>      op: > >= < <= == !=
    high <column>              above the column's 75th percentile
    low <column>               below the column's 25th percentile
A value may be quoted with ' or ". Ordering operators need a numeric column and a number. Column names
and text values are case-sensitive (a 400 points at the name in its case: errors.case_hint).

How a filter is read (one left-to-right pass, no regular expression, so no input can make it backtrack):
    - white space around the whole filter, the column and the value is ignored;
    - `high` / `low` (any case), white space, then a known column is a quantile filter;
    - otherwise the column is everything before the first operator character (one of `<>=!`), the
      operator is the run of operator characters (and ASCII white space) that starts there, which must be one
      of the six (`Income => 5`, `Income === 5` and `Income > = 5` name an unknown operator), and the
      value is the rest, which must not be empty; a value starting with an operator character is quoted.
A filter is at most MAX_FILTER_CHARS characters and a request carries at most MAX_FILTERS filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.request_parts import MAX_FILTERS
from common.errors import InvalidFilter, UnknownColumn, case_hint, shown

MAX_FILTER_CHARS = 1000
_ORDERING = {">", ">=", "<", "<="}
_OPERATORS = _ORDERING | {"==", "!="}
_OPERATOR_CHARS = "<>=!"
_OPERATOR_RUN = _OPERATOR_CHARS + " \t\r\n\f\v"
_QUANTILES = {"high", "low"}
_GRAMMAR = ("use '<column> <op> <value>' with op one of > >= < <= == !=, or 'high <column>' / "
            "'low <column>'.")


VALUES_SHOWN = 10  # values of a column an empty selection's message lists


@dataclass(frozen=True)
class Filter:
    """One parsed filter; `value` is a float for numeric columns, else a string."""

    text: str
    column: str
    op: str  # one of the comparison operators, or "high" / "low"
    value: float | str | None = None

    def mask(self, frame: pd.DataFrame, reference: pd.DataFrame | None = None) -> np.ndarray:
        """Rows of `frame` this filter keeps; quantiles come from `reference` (default: frame)."""
        series = frame[self.column]
        if self.op in {"high", "low"}:
            ref = (reference if reference is not None else frame)[self.column]
            if self.op == "high":
                return (series > ref.quantile(0.75)).to_numpy(dtype=bool)
            return (series < ref.quantile(0.25)).to_numpy(dtype=bool)
        numeric = isinstance(self.value, float)
        values = pd.to_numeric(series, errors="coerce") if numeric else series.astype("string")
        result = {
            ">": values > self.value,
            ">=": values >= self.value,
            "<": values < self.value,
            "<=": values <= self.value,
            "==": values == self.value,
            "!=": values != self.value,
        }[self.op]
        return result.fillna(self.op == "!=").to_numpy(dtype=bool)


@dataclass(frozen=True)
class _Comparison:
    """The three tokens of `<column> <op> <value>`, before any check against the dataset."""

    column: str
    op: str
    value: str  # as written, white space stripped, quotes kept


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


def _quantile(text: str) -> tuple[str, str] | None:
    """('high' | 'low', column) when the filter reads `high <column>` / `low <column>`, else None."""
    words = text.split(maxsplit=1)
    if len(words) != 2 or words[0].lower() not in _QUANTILES:
        return None
    return words[0].lower(), words[1].strip()


def _comparison(text: str) -> _Comparison | None:
    """Split `<column> <op> <value>` at the first operator character; None when there is none.

    The operator token runs over operator characters and white space up to the first other character,
    so `Income > = 5` names the operator '> =' (refused) instead of comparing with the value '= 5'."""
    found = [at for at in (text.find(char) for char in _OPERATOR_CHARS) if at >= 0]
    if not found:
        return None
    start = min(found)
    end = len(text) - len(text[start:].lstrip(_OPERATOR_RUN))  # str methods: one C-speed pass each
    return _Comparison(text[:start].strip(), text[start:end].strip(), text[end:].strip())


def _value(text: str, parts: _Comparison, kind: str) -> float | str:
    raw = _unquote(parts.value)
    if kind == "numeric":
        try:
            number = float(raw)
        except ValueError:
            raise InvalidFilter(f"Filter {shown(text)}: column {shown(parts.column)} is numeric, so "
                                f"{shown(raw)} must be a number.") from None
        if not np.isfinite(number):
            raise InvalidFilter(f"Filter {shown(text)}: {shown(raw)} is not a finite number.")
        return number
    if parts.op in _ORDERING:
        raise InvalidFilter(f"Filter {shown(text)}: column {shown(parts.column)} is {kind}; only == and != "
                            "apply to it.")
    return raw


def _check_length(text: object, max_chars: int) -> str:
    if isinstance(text, str) and len(text) > max_chars:  # before anything reads the whole text
        raise InvalidFilter(f"Filter {shown(text)} is {len(text)} characters long; a filter may have at most "
                            f"{max_chars}: shorten it.")
    if not isinstance(text, str) or not text.strip():
        raise InvalidFilter(f"Filter {shown(text)} is empty; write e.g. 'Income > 50000' or 'high Income'.")
    return text


def parse_filter(text: str, column_types: Mapping[str, str], *, max_chars: int = MAX_FILTER_CHARS) -> Filter:
    """Parse one filter against the dataset's column types ("numeric" or anything else); `max_chars`
    is raised only by the tests that show the parse time grows linearly with the length."""
    stripped = _check_length(text, max_chars).strip()
    quantile = _quantile(stripped)
    if quantile and quantile[1] in column_types:
        which, column = quantile
        if column_types[column] != "numeric":
            raise InvalidFilter(f"Filter {shown(text)}: '{which}' needs a numeric column; "
                                f"{shown(column)} is {column_types[column]}.")
        return Filter(text, column, which)
    parts = _comparison(stripped)
    if parts is None or not parts.column or not parts.value:
        if quantile:
            raise UnknownColumn(f"Filter {shown(text)} names unknown column {shown(quantile[1])}."
                                f"{case_hint(quantile[1], column_types)}",
                                details={"column": shown(quantile[1], quoted=False)})
        raise InvalidFilter(f"Filter {shown(text)} is not understood; {_GRAMMAR}")
    if parts.op not in _OPERATORS:
        raise InvalidFilter(f"Filter {shown(text)} uses unknown operator {parts.op!r}; use one of "
                            "> >= < <= == !=.")
    if parts.column not in column_types:
        raise UnknownColumn(f"Filter {shown(text)} names unknown column {shown(parts.column)}."
                            f"{case_hint(parts.column, column_types)}",
                            details={"column": shown(parts.column, quoted=False)})
    return Filter(text, parts.column, parts.op, _value(text, parts, column_types[parts.column]))


def parse_filters(texts: Sequence[str], column_types: Mapping[str, str]) -> list[Filter]:
    if len(texts) > MAX_FILTERS:
        raise InvalidFilter(f"{len(texts)} filters were sent; at most {MAX_FILTERS} are allowed: combine or "
                            "drop some.")
    return [parse_filter(text, column_types) for text in texts]


def missing_notes(filters: Sequence[Filter], frame: pd.DataFrame) -> list[str]:
    """A warning per filter that leaves out rows of `frame` because its column is missing there (a missing
    value passes no filter on its column but `!=`), so the rows dropped are not a surprise."""
    notes = []
    for flt in filters:
        if flt.op == "!=":
            continue
        missing = int(frame[flt.column].isna().sum())
        if missing:
            notes.append(f"filter {shown(flt.text)} leaves out the {missing} rows whose {flt.column} is missing")
    return notes


def absent_values(filters: Sequence[Filter], frame: pd.DataFrame) -> str:
    """Why filters selected no rows, where an equality names a text value no row of `frame` holds: the value
    in another case, or some values the column does hold. "" when no such filter."""
    notes = []
    for flt in filters:
        if flt.op != "==" or not isinstance(flt.value, str):
            continue
        held = frame[flt.column].dropna().astype(str).unique().tolist()
        if flt.value in held:
            continue
        some = sorted(held)[:VALUES_SHOWN]
        notes.append(f"no row has {flt.column} == {shown(flt.value)}."
                     f"{case_hint(flt.value, held) or f' Some of its values: {shown(some)}.'}")
    return " ".join(notes)


def apply_filters(
    frame: pd.DataFrame, filters: Sequence[Filter], reference: pd.DataFrame | None = None
) -> np.ndarray:
    """Boolean mask of the rows of `frame` that every filter keeps."""
    keep = np.ones(len(frame), dtype=bool)
    for flt in filters:
        keep &= flt.mask(frame, reference)
    return keep
