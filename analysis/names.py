"""The one rule for names a client gives, whatever the format they arrive in (a CSV header, a Parquet schema,
a multipart upload, a JSON body) and whatever they name (columns, datasets, labels, cohorts, scenarios):

- at most a length per kind (MAX_COLUMN_NAME_CHARS for columns, MAX_LABEL_CHARS for labels, ...);
- no character of the Unicode categories Cc (controls: line breaks, tabs, NUL, U+0085), Cf (format: the
  bidirectional overrides U+202A-U+202E and isolates U+2066-U+2069, zero-width characters, the BOM), Zl
  (U+2028) or Zp (U+2029): a name is one line of text that reads as it is stored;
- not blank, and no two names of one list alike after trimming their leading and trailing spaces.

Cell values are not held to it: they are data, kept as sent, and escaped wherever they are shown (error
messages: common.errors.shown) or logged (common.logs). Pure: the standard library only."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable

from common.errors import InvalidRequest, shown

MAX_COLUMN_NAME_CHARS = 500  # a column's name (CSV header, Parquet schema, a request naming a column)
MAX_LABEL_CHARS = 200  # a column's label (analysis.labels)
MAX_QUESTION_NAME_CHARS = 64  # a cohort's or a scenario's name (analysis.request_parts)
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
SHOWN_POSITIONS = 20  # positions an error lists


def refused_characters(name: str) -> list[str]:
    """The characters of `name` the rule refuses, each as U+XXXX (in order, each once)."""
    found = dict.fromkeys(f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in REFUSED_CATEGORIES)
    return list(found)


def problem(name: object, max_chars: int) -> str | None:
    """What is wrong with one name (None when it obeys the rule), in words a message can end with."""
    if not isinstance(name, str):
        return f"is not text ({type(name).__name__})"
    if not name.strip():
        return "is empty"
    if len(name) > max_chars:
        return f"has {len(name)} characters; at most {max_chars} are allowed"
    bad = refused_characters(name)
    if bad:
        return (f"holds control characters, format characters or line separators ({', '.join(bad[:10])}); a name "
                "is one line of visible text (no line breaks, tabs, bidirectional controls or zero-width characters)")
    return None


def check(name: object, what: str, max_chars: int, error: type[InvalidRequest] = InvalidRequest) -> str:
    """`name` when it obeys the rule; `error` (a 400) saying what to change otherwise. `what` says what the
    name names, e.g. "the label of 'Income'" or "cohort name"."""
    wrong = problem(name, max_chars)
    if wrong is not None:
        raise error(f"{what} {shown(name)} {wrong}.")
    return name  # type: ignore[return-value]


def check_all(names: Iterable[object], what: str, max_chars: int,
              error: type[InvalidRequest] = InvalidRequest) -> list[str]:
    """A list of names (a header, a schema): each obeys the rule, and none repeats another after trimming.
    `what` says whose names they are, e.g. "The CSV header" or "The Parquet file"."""
    listed = list(names)
    bad = [(i + 1, wrong) for i, name in enumerate(listed) if (wrong := problem(name, max_chars)) is not None]
    if bad:
        position, first = bad[0]
        positions = [p for p, _ in bad[:SHOWN_POSITIONS]]
        if all(wrong == "is empty" for _, wrong in bad):
            raise error(f"{what} has empty column names at positions {positions}; name every column.",
                        details={"positions": positions})
        raise error(f"{what} has column names that break the naming rule at positions {positions}: the one at "
                    f"position {position} {first}; rename them.", details={"positions": positions})
    counts = Counter(str(name).strip() for name in listed)
    twice = sorted(name for name, count in counts.items() if count > 1)
    if twice:
        repeated = [shown(name, quoted=False) for name in twice[:SHOWN_POSITIONS]]
        raise error(f"{what} repeats column names {repeated} (names are compared without their leading and "
                    "trailing spaces); each name must be unique.", details={"duplicated_columns": repeated})
    return [str(name) for name in listed]
