"""The strict grammar of `demographic_filters` and its evaluation on a data frame.

Grammar (one filter per string, all filters are ANDed):
    <column> <op> <value>      op: > >= < <= == !=
    high <column>              above the column's 75th percentile
    low <column>               below the column's 25th percentile
A value may be quoted with ' or ". Ordering operators need a numeric column and a number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.errors import InvalidFilter, UnknownColumn

_COMPARISON = re.compile(r"^\s*(?P<column>.+?)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>.+?)\s*$")
_QUANTILE = re.compile(r"^\s*(?P<which>high|low)\s+(?P<column>.+?)\s*$", re.IGNORECASE)
_ORDERING = {">", ">=", "<", "<="}
_OPERATORS = _ORDERING | {"==", "!="}
_OPERATOR_TYPO = re.compile(r"^\s*(?P<column>.+?)\s*(?P<op>[=!<>]+)\s*(?P<value>[^=!<>].*?)?\s*$")


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


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


def parse_filter(text: str, column_types: Mapping[str, str]) -> Filter:
    """Parse one filter against the dataset's column types ("numeric" or anything else)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidFilter(f"Filter {text!r} is empty; write e.g. 'Income > 50000' or 'high Income'.")
    quantile = _QUANTILE.match(text)
    if quantile and quantile["column"] in column_types:
        column = quantile["column"]
        if column_types[column] != "numeric":
            raise InvalidFilter(f"Filter {text!r}: '{quantile['which']}' needs a numeric column; "
                                f"{column!r} is {column_types[column]}.")
        return Filter(text, column, quantile["which"].lower())
    match = _COMPARISON.match(text)
    if not match:
        if quantile:
            raise UnknownColumn(f"Filter {text!r} names unknown column {quantile['column']!r}.",
                                details={"column": quantile["column"]})
        raise InvalidFilter(
            f"Filter {text!r} is not understood; use '<column> <op> <value>' with op one of "
            "> >= < <= == !=, or 'high <column>' / 'low <column>'."
        )
    column, op, raw_value = match["column"], match["op"], _unquote(match["value"])
    typo = _OPERATOR_TYPO.match(f"{column}{op}{match['value']}")
    if typo and typo["column"] in column_types and typo["op"] not in _OPERATORS:
        raise InvalidFilter(f"Filter {text!r} uses unknown operator {typo['op']!r}; use one of > >= < <= == !=.")
    if column not in column_types:
        raise UnknownColumn(f"Filter {text!r} names unknown column {column!r}.", details={"column": column})
    if column_types[column] == "numeric":
        try:
            value: float | str = float(raw_value)
        except ValueError:
            raise InvalidFilter(
                f"Filter {text!r}: column {column!r} is numeric, so {raw_value!r} must be a number."
            ) from None
        if not np.isfinite(value):
            raise InvalidFilter(f"Filter {text!r}: {raw_value!r} is not a finite number.")
    else:
        if op in _ORDERING:
            raise InvalidFilter(
                f"Filter {text!r}: column {column!r} is {column_types[column]}; only == and != apply to it."
            )
        value = raw_value
    return Filter(text, column, op, value)


def parse_filters(texts: Sequence[str], column_types: Mapping[str, str]) -> list[Filter]:
    return [parse_filter(text, column_types) for text in texts]


def apply_filters(
    frame: pd.DataFrame, filters: Sequence[Filter], reference: pd.DataFrame | None = None
) -> np.ndarray:
    """Boolean mask of the rows of `frame` that every filter keeps."""
    keep = np.ones(len(frame), dtype=bool)
    for flt in filters:
        keep &= flt.mask(frame, reference)
    return keep
