"""Datasets, pure: CSV validation and parsing, column typing and statistics, target and feature resolution.

Storage in Redis is store.dataset_store; nothing here touches Redis, so explain/ may import it."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd

from analysis import names as name_rule
from analysis.csv_format import COMMAS, CsvFormat
from analysis.dataset_meta import ColumnStats, DatasetMeta
from analysis.names import MAX_COLUMN_NAME_CHARS
from common.errors import (
    DatasetTooLarge,
    InvalidDataset,
    InvalidRequest,
    UnknownColumn,
    case_hint,
    first_case_hint,
    shown,
)

# One bounded character class, matched against the WHOLE name (fullmatch: `$` would accept "name\n").
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MIN_ROWS = 10
MAX_COLUMNS = 2000
STORAGE = "arrow-ipc"  # DatasetMeta.storage: how analysis.columnar stores a dataset (older ones hold CSV text)
MAX_CLASSES = 20  # most classes of a categorical target (explain.training refuses more, too)
Task = Literal["regression", "binary", "multiclass"]


@dataclass(frozen=True)
class DatasetOptions:
    id_columns: tuple[str, ...] = ()
    exclude_columns: tuple[str, ...] = ()
    default_target: str | None = None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidDataset(
            f"Dataset name {shown(name)} is invalid: use 1-64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit."
        )
    return name


def _header_line(data: bytes) -> str:
    """The first line, refused with a reason when it cannot be a CSV header line."""
    if b"\0" in data:
        raise InvalidDataset("The body holds NUL bytes, so it is not a text CSV; send the CSV as UTF-8 text.")
    line = data.partition(b"\n")[0].decode("utf-8-sig", errors="replace").removesuffix("\r")
    if "\r" in line:
        raise InvalidDataset("The CSV's lines end with a lone carriage return (CR, old Mac style); save it with "
                             "LF or CRLF line endings.")
    return line


def _read_header(data: bytes, fmt: CsvFormat) -> list[str]:
    try:
        header = next(csv.reader([_header_line(data)], delimiter=fmt.delimiter), [])
    except csv.Error as exc:  # e.g. a field over the csv module's limit (128 KiB), an unclosed quote
        raise InvalidDataset(f"The CSV header cannot be read ({shown(str(exc), quoted=False)}); the first line "
                             "must name every column, separated by the delimiter.") from None
    if not header or all(not h.strip() for h in header):
        raise InvalidDataset("The CSV has no header row; the first line must name every column.")
    return name_rule.check_all(header, "The CSV header", MAX_COLUMN_NAME_CHARS, InvalidDataset)


def parse_csv(data: bytes, id_columns: Sequence[str] = (), fmt: CsvFormat = COMMAS) -> pd.DataFrame:
    """Parse CSV bytes with the one set of rules both web and worker use, in the upload's format
    (analysis.csv_format; datasets stored as CSV text by earlier builds are commas and points). The declared
    `id_columns` are read as text: a zip code `01583` keeps its leading zero (as a number it became 1583, and
    a row asked for by that id was not found, or was taken for the row at position 1583)."""
    return normalised(pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", low_memory=False, sep=fmt.delimiter,
                                  decimal=fmt.decimal, dtype=dict.fromkeys(id_columns, str) or None))


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """The service's column rules, whatever the source (CSV, Parquet, the stored Arrow form): numbers stay
    numbers; every other column holds Python objects with None for missing."""
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def _read(data: bytes, form: str, max_rows: int, id_columns: Sequence[str],
          max_bytes: int | None, fmt: CsvFormat) -> tuple[list[str], pd.DataFrame]:
    """The header and the parsed frame of an upload, CSV or Parquet, its decoded size bounded by `max_bytes`
    (MAX_DATASET_MB) before it is built."""
    if form == "parquet":
        from analysis import columnar  # pyarrow's Parquet reader, only for Parquet uploads

        frame = columnar.read_parquet(data, max_rows, max_bytes)  # its names checked before it is decoded
        return [str(c) for c in frame.columns], frame
    header = _read_header(data, fmt)
    check_decoded_size(csv_decoded_bound(data, len(header)), max_bytes, "CSV")
    try:
        return header, parse_csv(data, id_columns, fmt)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise InvalidDataset(f"The CSV could not be parsed: {shown(str(exc), quoted=False)}") from None


CELL_BYTES = 8  # a decoded cell: a float64/int64, or the reference to a text value (its bytes counted apart)


TABLE = "table (8 bytes a cell plus the bytes of its text)"


def check_decoded_size(size: int, max_bytes: int | None, what: str, counted: str = TABLE) -> None:
    """DatasetTooLarge (413) when a table would decode to more than `max_bytes` (MAX_DATASET_MB); `counted` says
    what was measured (the table, or what a Parquet file's page headers declare)."""
    if max_bytes is not None and size > max_bytes:
        raise DatasetTooLarge(f"The {what} decodes to at least {size / 2**20:.1f} MiB of {counted}; at most "
                              f"{max_bytes / 2**20:g} MiB (MAX_DATASET_MB) are "
                              "allowed: send fewer rows or columns, or shorter text.",
                              details={"decoded_bytes_at_least": size, "max_bytes": max_bytes,
                                       "setting": "MAX_DATASET_MB"})


def csv_decoded_bound(data: bytes, columns: int) -> int:
    """An upper bound of what a CSV decodes to, before it is parsed: a cell per column on every line, and text
    no longer than the bytes that carry it."""
    return (data.count(b"\n") + 1) * columns * CELL_BYTES + len(data)


def column_type(series: pd.Series) -> str:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return "numeric"
    non_null = series.dropna()
    if len(non_null) == len(series) and non_null.is_unique and len(series) > 1:
        return "id"
    return "categorical"


def _column_summary(series: pd.Series, kind: str) -> ColumnStats:
    summary: dict[str, Any] = {"name": str(series.name), "type": kind, "missing": int(series.isna().sum())}
    if kind == "numeric":
        values = series.dropna().astype(float)
        clean = values[np.isfinite(values)]
        summary.update(non_finite=len(values) - len(clean), unique=int(clean.nunique()))
        if len(clean):
            q = clean.quantile([0.25, 0.5, 0.75]).to_numpy()
            summary.update(min=float(clean.min()), max=float(clean.max()), mean=float(clean.mean()),
                           std=float(clean.std()) if len(clean) > 1 else 0.0,
                           p25=float(q[0]), median=float(q[1]), p75=float(q[2]))
    else:
        counts = series.dropna().astype(str).value_counts()
        summary.update(unique=len(counts), top_values={str(k): int(v) for k, v in counts.head(10).items()})
    return ColumnStats.model_validate(summary)


def _known_options(options: DatasetOptions, names: list[str]) -> list[str]:
    """`names`, once every column the options name is one of them."""
    for label, wanted in (("id_columns", options.id_columns), ("exclude_columns", options.exclude_columns),
                          ("default_target", (options.default_target,) if options.default_target else ())):
        unknown = [c for c in wanted if c not in names]
        if unknown:
            hint = first_case_hint(unknown, names)
            raise UnknownColumn(f"{label} names unknown columns {shown(unknown)}."
                                f"{hint or f' The columns are {shown(names, limit=2000)}.'}")
    return names


# what a one-column upload is told: a CSV's delimiter may be none of those the service detects
ONE_COLUMN = {"csv": " The CSV's first line has no comma, semicolon or tab between names; send delimiter= naming "
                     "the one it uses.", "parquet": ""}


def describe(data: bytes, options: DatasetOptions, *, name: str, max_rows: int, max_bytes: int | None = None,
             form: str = "csv", fmt: CsvFormat = COMMAS) -> tuple[DatasetMeta, pd.DataFrame]:
    """Validate an upload (CSV bytes in format `fmt`, or a Parquet file when `form` is "parquet") and build the
    dataset's metadata; raise InvalidDataset saying what to change, DatasetTooLarge (413) when it would decode
    to more than `max_bytes` (MAX_DATASET_MB; None: no bound, for the service's own tables)."""
    if not data.strip():
        raise InvalidDataset("The CSV body is empty." if form == "csv" else "The Parquet body is empty.")
    header, frame = _read(data, form, max_rows, options.id_columns, max_bytes, fmt)
    what = "CSV" if form == "csv" else "Parquet file"
    if len(header) < 2:
        raise InvalidDataset("A dataset needs at least two columns (a target and a feature)." + ONE_COLUMN[form])
    if len(header) > MAX_COLUMNS:
        raise InvalidDataset(f"The {what} has {len(header)} columns; at most {MAX_COLUMNS} are allowed.")
    if len(frame) < MIN_ROWS:
        raise InvalidDataset(f"The {what} has {len(frame)} data rows; at least {MIN_ROWS} are needed.")
    if len(frame) > max_rows:
        raise InvalidDataset(f"The {what} has {len(frame)} data rows; at most {max_rows} (MAX_ROWS) are allowed.")
    names = _known_options(options, [str(c) for c in frame.columns])
    types = {c: column_type(frame[c]) for c in names}
    id_columns = [c for c in names if c in options.id_columns or types[c] == "id"]
    if options.default_target and options.default_target in id_columns:
        raise InvalidDataset(f"default_target {options.default_target!r} is an id column and cannot be explained.")
    # the same bytes read in another format are other data; the usual format keeps earlier builds' versions
    read_as = b"" if form != "csv" or fmt.is_default else orjson.dumps(fmt.describe())
    version = hashlib.sha256(data + orjson.dumps(options.__dict__) + read_as).hexdigest()[:16]
    meta = DatasetMeta(
        name=name,
        version=version,
        rows=len(frame),
        columns=[_column_summary(frame[c], "id" if c in id_columns else types[c]) for c in names],
        id_columns=id_columns,
        exclude_columns=list(options.exclude_columns),
        default_target=options.default_target,
        created_at=time.time(),
        size_bytes=len(data),
        upload_format=form,
        storage=STORAGE,
    )
    return meta, frame


def task_of(column: ColumnStats) -> Task:
    """The one rule for what a target asks of its model, from its column statistics (`_column_summary`):
    two distinct values make a binary classification, other numbers a regression, other text a multiclass one.
    The web reads it from the stored statistics (the analysis plan); training, from the target's own values
    (`task_of_values`), so the two cannot disagree."""
    if column.unique == 2:
        return "binary"
    return "regression" if column.type == "numeric" else "multiclass"


def task_of_values(target: pd.Series) -> Task:
    """`task_of` for a target column as it is (training on a frame no stored statistics describe)."""
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    return task_of(_column_summary(target, "numeric" if numeric else "categorical"))


def feature_columns(meta: DatasetMeta, target: str) -> list[str]:
    """Columns a model of `target` learns from: all but the target, id columns and excluded columns."""
    skip = {target, *meta.id_columns, *meta.exclude_columns}
    return [c.name for c in meta.columns if c.name not in skip]


def resolve_target(meta: DatasetMeta, requested: str | None) -> str:
    """The target to explain, checked against the dataset's stored statistics: what can be known to fail
    before training is refused here (a 400 at the web, before anything is enqueued)."""
    target = requested or meta.default_target
    if not target:
        raise InvalidRequest(f"Dataset {shown(meta.name)} has no default_target; name a target_variable.")
    types = meta.column_types()
    if target not in types:
        hint = case_hint(target, types)
        raise UnknownColumn(f"target_variable {shown(target)} is not a column of dataset {shown(meta.name)}."
                            f"{hint or f' The columns are {shown(list(types), limit=2000)}.'}",
                            details={"column": shown(target, quoted=False)})
    if types[target] == "id":
        raise InvalidRequest(f"target_variable {shown(target)} is an id column; choose a numeric or categorical "
                             "one.")
    _check_target_statistics(meta, meta.column(target))
    if not feature_columns(meta, target):
        raise InvalidDataset(f"No feature is left to explain {shown(target)} with: every other column of dataset "
                             f"{shown(meta.name)} is an id or excluded; upload it with fewer exclude_columns.")
    return target


def _check_target_statistics(meta: DatasetMeta, column: ColumnStats) -> None:
    name, kind = shown(column.name), column.type
    if column.missing >= meta.rows:
        raise InvalidDataset(f"target_variable {name} has no values (every row is missing); choose another.")
    if column.non_finite:
        raise InvalidDataset(f"target_variable {name} has {column.non_finite} infinite values; replace or "
                             "remove them, or choose another target.")
    unique = column.unique
    if unique is not None and unique < 2:
        raise InvalidDataset(f"target_variable {name} has a single value; a constant cannot be explained, "
                             "choose another target.")
    if kind != "numeric" and unique is not None and unique > MAX_CLASSES:
        raise InvalidDataset(f"target_variable {name} has {unique} classes; at most {MAX_CLASSES} are supported: "
                             "group its classes or choose another target.")


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


# A binary target's positive class (docs/summary.md, "The positive class"): the class whose probability the
# model predicts and whose log-odds its raw scores and SHAP values are. Unless the request names one, the one
# class named like a "yes" (case-insensitive; a number equal to 1 too), else the second in sorted order
# (numbers sorted as numbers).
POSITIVE_NAMES = ("true", "yes", "1", "positive")


def binary_classes(column: ColumnStats) -> list[str]:
    """A two-valued column's two values as text, from its stored statistics: its top values (text), or its
    min and max (numbers, written as integers when they are whole)."""
    if column.type != "numeric":
        return sorted(column.top_values or {})
    assert column.min is not None and column.max is not None, "a two-valued numeric column has a min and a max"
    return [_number_text(column.min), _number_text(column.max)]


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def matching_class(classes: list[str], wanted: str) -> str | None:
    """The class of `classes` that `wanted` names: the same text, or the same number ("1" names "1.0")."""
    if wanted in classes:
        return wanted
    number = _as_number(wanted)
    return next((c for c in classes if number is not None and _as_number(c) == number), None)


def default_positive_class(classes: list[str]) -> str:
    """The positive class of a binary target with these two classes, by the rule above."""
    named = [c for c in classes if c.strip().lower() in POSITIVE_NAMES or _as_number(c) == 1.0]
    if len(named) == 1:
        return named[0]
    numbers = [_as_number(c) for c in classes]
    if all(n is not None for n in numbers):
        return max(classes, key=lambda c: _as_number(c) or 0.0)
    return sorted(classes)[1]


def positive_class(meta: DatasetMeta, target: str, task: Task, requested: str | None) -> str | None:
    """The plan's positive class of `target` (None unless binary); a 400 naming the two classes when the
    request names another, or names one for a target that is not binary."""
    if task != "binary":
        if requested is not None:
            raise InvalidRequest(f"positive_class applies to a two-class target; {shown(target)} is a {task} "
                                 "target.")
        return None
    classes = binary_classes(meta.column(target))
    if requested is None:
        return default_positive_class(classes)
    found = matching_class(classes, requested)
    if found is None:
        raise InvalidRequest(f"positive_class {shown(requested)} is not a class of {shown(target)}; its classes "
                             f"are {shown(classes[0])} and {shown(classes[1])}.", details={"classes": classes})
    return found
