"""Datasets, pure: CSV validation and parsing, column typing and statistics, target and feature resolution.

Storage in Redis is common.dataset_store; nothing here touches Redis, so explain/ may import it."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd

from common.errors import InvalidDataset, UnknownColumn, shown

# One bounded character class, matched against the WHOLE name (fullmatch: `$` would accept "name\n").
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MIN_ROWS = 10
MAX_COLUMNS = 2000
STORAGE = "arrow-ipc-zstd"  # meta["storage"]: how common.columnar stores a dataset (older ones hold CSV text)


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


def _read_header(data: bytes) -> list[str]:
    first_line = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
    header = next(csv.reader([first_line]), [])
    if not header or all(not h.strip() for h in header):
        raise InvalidDataset("The CSV has no header row; the first line must name every column.")
    blanks = [i + 1 for i, h in enumerate(header) if not h.strip()]
    if blanks:
        raise InvalidDataset(f"The CSV header has empty column names at positions {blanks}; name every column.")
    seen: set[str] = set()
    duplicates = sorted({h for h in header if h in seen or seen.add(h)})  # type: ignore[func-returns-value]
    if duplicates:
        raise InvalidDataset(f"The CSV header repeats column names {duplicates}; each name must be unique.",
                             details={"duplicated_columns": duplicates})
    return header


def parse_csv(data: bytes) -> pd.DataFrame:
    """Parse CSV bytes with the one set of rules both web and worker use."""
    return normalised(pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", low_memory=False))


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """The service's column rules, whatever the source (CSV, Parquet, the stored Arrow form): numbers stay
    numbers; every other column holds Python objects with None for missing."""
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def _checked_names(names: list[str], what: str) -> list[str]:
    """Column names of a Parquet upload obey the rules of a CSV header: named, unique."""
    blanks = [i + 1 for i, h in enumerate(names) if not h.strip()]
    if blanks:
        raise InvalidDataset(f"The {what} has empty column names at positions {blanks}; name every column.")
    seen: set[str] = set()
    duplicates = sorted({h for h in names if h in seen or seen.add(h)})  # type: ignore[func-returns-value]
    if duplicates:
        raise InvalidDataset(f"The {what} repeats column names {duplicates}; each name must be unique.",
                             details={"duplicated_columns": duplicates})
    return names


def _read(data: bytes, form: str, max_rows: int) -> tuple[list[str], pd.DataFrame]:
    """The header and the parsed frame of an upload, CSV or Parquet."""
    if form == "parquet":
        from common import columnar  # pyarrow's Parquet reader, only for Parquet uploads

        frame = columnar.read_parquet(data, max_rows)
        return _checked_names([str(c) for c in frame.columns], "Parquet file"), frame
    header = _read_header(data)
    try:
        return header, parse_csv(data)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidDataset(f"The CSV could not be parsed: {exc}") from None


def column_type(series: pd.Series) -> str:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return "numeric"
    non_null = series.dropna()
    if len(non_null) == len(series) and non_null.is_unique and len(series) > 1:
        return "id"
    return "categorical"


def _column_summary(series: pd.Series, kind: str) -> dict[str, Any]:
    summary: dict[str, Any] = {"name": str(series.name), "type": kind, "missing": int(series.isna().sum())}
    if kind == "numeric":
        clean = series.dropna().astype(float)
        if len(clean):
            q = clean.quantile([0.25, 0.5, 0.75]).to_numpy()
            summary.update(min=float(clean.min()), max=float(clean.max()), mean=float(clean.mean()),
                           std=float(clean.std()) if len(clean) > 1 else 0.0,
                           p25=float(q[0]), median=float(q[1]), p75=float(q[2]))
    else:
        counts = series.dropna().astype(str).value_counts()
        summary.update(unique=len(counts), top_values={str(k): int(v) for k, v in counts.head(10).items()})
    return summary


def describe(data: bytes, options: DatasetOptions, *, name: str, max_rows: int,
             form: str = "csv") -> tuple[dict, pd.DataFrame]:
    """Validate an upload (CSV bytes, or a Parquet file when `form` is "parquet") and build the dataset's
    metadata; raise InvalidDataset saying what to change."""
    if not data.strip():
        raise InvalidDataset("The CSV body is empty." if form == "csv" else "The Parquet body is empty.")
    header, frame = _read(data, form, max_rows)
    what = "CSV" if form == "csv" else "Parquet file"
    if len(header) < 2:
        raise InvalidDataset("A dataset needs at least two columns (a target and a feature).")
    if len(header) > MAX_COLUMNS:
        raise InvalidDataset(f"The {what} has {len(header)} columns; at most {MAX_COLUMNS} are allowed.")
    if len(frame) < MIN_ROWS:
        raise InvalidDataset(f"The {what} has {len(frame)} data rows; at least {MIN_ROWS} are needed.")
    if len(frame) > max_rows:
        raise InvalidDataset(f"The {what} has {len(frame)} data rows; at most {max_rows} (MAX_ROWS) are allowed.")
    names = [str(c) for c in frame.columns]
    for label, wanted in (("id_columns", options.id_columns), ("exclude_columns", options.exclude_columns),
                          ("default_target", (options.default_target,) if options.default_target else ())):
        unknown = [c for c in wanted if c not in names]
        if unknown:
            raise UnknownColumn(f"{label} names unknown columns {unknown}; the columns are {names}.")
    types = {c: column_type(frame[c]) for c in names}
    id_columns = [c for c in names if c in options.id_columns or types[c] == "id"]
    if options.default_target and options.default_target in id_columns:
        raise InvalidDataset(f"default_target {options.default_target!r} is an id column and cannot be explained.")
    version = hashlib.sha256(data + orjson.dumps(options.__dict__)).hexdigest()[:16]
    meta = {
        "name": name,
        "version": version,
        "rows": len(frame),
        "columns": [_column_summary(frame[c], "id" if c in id_columns else types[c]) for c in names],
        "id_columns": id_columns,
        "exclude_columns": list(options.exclude_columns),
        "default_target": options.default_target,
        "created_at": time.time(),
        "size_bytes": len(data),
        "upload_format": form,
        "storage": STORAGE,
    }
    return meta, frame


def column_types(meta: dict) -> dict[str, str]:
    return {c["name"]: c["type"] for c in meta["columns"]}


def feature_columns(meta: dict, target: str) -> list[str]:
    """Columns a model of `target` learns from: all but the target, id columns and excluded columns."""
    skip = {target, *meta["id_columns"], *meta["exclude_columns"]}
    return [c["name"] for c in meta["columns"] if c["name"] not in skip]


def resolve_target(meta: dict, requested: str | None) -> str:
    target = requested or meta.get("default_target")
    if not target:
        raise InvalidDataset(f"Dataset {meta['name']!r} has no default_target; name a target_variable.")
    types = column_types(meta)
    if target not in types:
        raise UnknownColumn(f"target_variable {target!r} is not a column of dataset {meta['name']!r}; "
                            f"the columns are {list(types)}.", details={"column": target})
    if types[target] == "id":
        raise InvalidDataset(f"target_variable {target!r} is an id column; choose a numeric or categorical one.")
    return target


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()
