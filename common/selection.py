"""Which rows an analysis explains: the given `data` rows or the dataset's, filtered, then sampled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from common import datasets
from common.errors import EmptySelection, TooManyRows
from common.filters import apply_filters, parse_filters


@dataclass
class Selection:
    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    selected_rows: int = 0


def select_rows(frame: pd.DataFrame, meta: dict, request: dict[str, Any], max_rows: int) -> Selection:
    """The rows to explain: the given `data` rows or the dataset's, filtered, then sampled."""
    warnings: list[str] = []
    filters = parse_filters(request.get("demographic_filters") or [], datasets.column_types(meta))
    if request.get("data") is not None:
        if len(request["data"]) > max_rows:
            raise TooManyRows(f"data has {len(request['data'])} rows; at most {max_rows} (MAX_ROWS) are allowed.")
        known = [c["name"] for c in meta["columns"]]
        rows = pd.DataFrame.from_records(request["data"])
        unknown = sorted(str(c) for c in rows.columns if c not in known)
        if unknown:
            warnings.append(f"ignored unknown keys in data: {', '.join(unknown)}")
        rows = rows.reindex(columns=known)
        candidates = rows
    else:
        candidates = frame
    keep = apply_filters(candidates, filters, reference=frame)
    chosen = candidates[keep]
    if len(chosen) == 0:
        raise EmptySelection(
            f"The filters {request.get('demographic_filters')} select no rows; loosen or remove one."
        )
    limit = min(request.get("sample_size") or max_rows, max_rows)
    selected = len(chosen)
    if selected > limit:
        picked = np.sort(np.random.default_rng(0).choice(selected, size=limit, replace=False))
        chosen = chosen.iloc[picked]
        warnings.append(f"explained a seeded random sample of {limit} of the {selected} selected rows")
    return Selection(chosen, warnings, selected)
