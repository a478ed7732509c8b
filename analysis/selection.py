"""Which rows an analysis explains: the given `data` rows or the dataset's, filtered, then sampled."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.dataset_meta import DatasetMeta
from analysis.filters import absent_values, apply_filters, missing_notes, parse_filters
from analysis.request import AnalyzeRequest
from common.errors import EmptySelection, InvalidRequest, TooManyRows, first_case_hint, shown


@dataclass
class Selection:
    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    selected_rows: int = 0


def select_rows(frame: pd.DataFrame, meta: DatasetMeta, request: AnalyzeRequest, max_rows: int) -> Selection:
    """The rows to explain: the given `data` rows or the dataset's, filtered, then sampled."""
    warnings: list[str] = []
    filters = parse_filters(request.demographic_filters, meta.column_types())
    candidates = frame if request.data is None else _given_rows(request.data, meta, max_rows, warnings)
    keep = apply_filters(candidates, filters, reference=frame)
    warnings += missing_notes(filters, candidates)
    chosen = candidates[keep]
    if len(chosen) == 0:
        why = absent_values(filters, frame)
        raise EmptySelection(f"The filters {shown(request.demographic_filters)} select no rows; loosen or remove "
                             f"one.{' ' + why if why else ''}")
    limit = min(request.sample_size or max_rows, max_rows)
    selected = len(chosen)
    if selected > limit:
        picked = np.sort(np.random.default_rng(0).choice(selected, size=limit, replace=False))
        chosen = chosen.iloc[picked]
        warnings.append(f"explained a seeded random sample of {limit} of the {selected} selected rows")
    return Selection(chosen, warnings, selected)


def _given_rows(data: list[dict], meta: DatasetMeta, max_rows: int, warnings: list[str]) -> pd.DataFrame:
    """The request's own `data` rows as a frame with the dataset's columns (unknown keys dropped, with a warning)."""
    if len(data) > max_rows:
        raise TooManyRows(f"data has {len(data)} rows; at most {max_rows} (MAX_ROWS) are allowed.")
    known = meta.names
    rows = pd.DataFrame.from_records(data)
    unknown = sorted(str(c) for c in rows.columns if c not in known)
    _refuse_rows_of_no_column(data, set(known), unknown)
    if unknown:
        warnings.append(f"ignored unknown keys in data: {shown(', '.join(unknown), quoted=False)}")
    rows = rows.reindex(columns=known)
    numeric = [c.name for c in meta.columns if c.type == "numeric"]
    warnings.extend(_not_numbers(rows, numeric))
    return rows


def _refuse_rows_of_no_column(data: list[dict], known: set[str], unknown: list[str]) -> None:
    """A `data` row none of whose keys is a column would be explained as a row of missing values: a 400,
    naming its index (a label or a column in another case is the usual cause)."""
    empty = [index for index, row in enumerate(data) if not any(key in known for key in row)]
    if not empty:
        return
    hint = first_case_hint(unknown, known)
    raise InvalidRequest(f"data rows {shown(empty[:20])} name none of the dataset's columns (unknown keys: "
                         f"{shown(unknown[:20])}); keys are column names as GET /metadata lists them, not "
                         f"labels.{hint}", details={"rows": empty[:20]})


WRONG_TYPE_WARNINGS = 20  # at most this many cells are named; the warning counts the rest


def _not_numbers(rows: pd.DataFrame, numeric: list[str]) -> list[str]:
    """A warning naming each `data` cell of a numeric column that holds no number (it is explained as
    missing, which the client should know rather than discover)."""
    found: list[str] = []
    total = 0
    for column in numeric:
        values = rows[column]
        bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        total += int(bad.sum())
        for index in bad[bad].index[:max(0, WRONG_TYPE_WARNINGS - len(found))]:
            found.append(f"data[{index}][{shown(column)}] = {shown(values[index], limit=40)} is not a number; "
                         "it was explained as missing")
    if total > len(found):
        found.append(f"{total - len(found)} more data values of numeric columns are not numbers (explained as missing)")
    return found


def capped(selection: Selection, limit: int) -> Selection:
    """An interactions analysis's rows: at most `limit` (INTERACTION_MAX_ROWS) of the selected rows (a seeded
    sample, in their order), with a warning when cut."""
    rows = len(selection.frame)
    if rows <= limit:
        return selection
    picked = np.sort(np.random.default_rng(0).choice(rows, size=limit, replace=False))
    warning = (f"interaction values cost rows x features^2: explained a seeded random sample of {limit} of the "
               f"{rows} rows (INTERACTION_MAX_ROWS)")
    return Selection(selection.frame.iloc[picked], [*selection.warnings, warning], selection.selected_rows)
