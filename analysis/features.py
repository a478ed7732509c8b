"""The features of one analysis, chosen from the dataset's stored statistics: every column but the target,
the id columns and the excluded ones (the dataset's `exclude_columns` and the request's), less the columns
that cannot inform a model (constant, or nearly empty), which are dropped and named in the warnings.

Pure and light (the stored meta only, no frame), so the web refuses what cannot work before anything is
enqueued, and the worker trains (and the model store keys) the very same feature list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import datasets
from analysis.dataset_meta import ColumnStats, DatasetMeta
from common.errors import InvalidDataset, InvalidRequest, UnknownColumn, shown

# A column missing in more than this share of the dataset's rows is dropped: 5 % of values cannot
# support splits that generalise, and the column's SHAP values would describe its missingness only.
NEAR_EMPTY_SHARE = 0.95
NAMED = 20  # a warning names at most this many columns, and counts the rest


@dataclass(frozen=True)
class FeatureChoice:
    features: list[str]
    constant: list[str]  # fewer than two distinct values, missing counted as a value
    near_empty: list[str]  # missing in more than NEAR_EMPTY_SHARE of the rows

    def warnings(self) -> list[str]:
        found = []
        if self.constant:
            found.append(f"dropped constant columns from the features: {_names(self.constant)} (a single value "
                         "cannot explain anything)")
        if self.near_empty:
            found.append(f"dropped near-empty columns from the features: {_names(self.near_empty)} (missing in "
                         f"more than {NEAR_EMPTY_SHARE:.0%} of the rows)")
        return found


def _names(names: list[str]) -> str:
    more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
    return ", ".join(names[:NAMED]) + more


def _is_constant(column: ColumnStats) -> bool:
    return (2 if column.unique is None else column.unique) + (1 if column.missing else 0) < 2


def _checked_exclusions(meta: DatasetMeta, target: str, exclude: Sequence[str]) -> None:
    names = meta.names
    unknown = [c for c in exclude if c not in names]
    if unknown:
        raise UnknownColumn(f"exclude_columns names columns that dataset {shown(meta.name)} does not have: "
                            f"{shown(unknown)}; the columns are {shown(names, limit=2000)}.",
                            details={"columns": [shown(c, quoted=False) for c in unknown[:NAMED]]})
    if target in exclude:
        raise InvalidRequest(f"exclude_columns names the target {shown(target)}; the target is never a feature: "
                             "remove it from exclude_columns.")


def choose_features(meta: DatasetMeta, target: str, exclude: Sequence[str] = ()) -> FeatureChoice:
    """The features a model of `target` learns from; a 400 when `exclude` names unknown columns or the
    target, or when no usable feature is left."""
    _checked_exclusions(meta, target, exclude)
    candidates = set(datasets.feature_columns(meta, target)) - set(exclude)
    columns = [c for c in meta.columns if c.name in candidates]
    rows = max(meta.rows, 1)
    constant = [c.name for c in columns if _is_constant(c)]
    near_empty = [c.name for c in columns if c.name not in constant and c.missing / rows > NEAR_EMPTY_SHARE]
    features = [c.name for c in columns if c.name not in constant and c.name not in near_empty]
    if not features:
        # the request's doing (invalid_request) when its exclusions removed the last usable column, else the
        # dataset's (invalid_dataset, as analysis.datasets.resolve_target refuses a dataset with no feature)
        error = InvalidRequest if exclude and choose_features(meta, target).features else InvalidDataset
        raise error(
            f"No usable feature is left to explain {shown(target)}: of dataset {shown(meta.name)}'s other "
            f"columns, {shown(list(exclude))} are excluded by the request, constant: {shown(constant)}, "
            f"near-empty: {shown(near_empty)}; the rest are ids or excluded by the dataset. Exclude fewer "
            "columns, or add a column that varies.")
    return FeatureChoice(features, constant, near_empty)

def feature_frame(frame: pd.DataFrame, features: list[str], cat_features: list[str], dtype: str = "float64"):
    """The model's input: numeric columns as floats, categorical ones as strings (missing -> "")."""
    columns = {}
    for name in features:
        if name in cat_features:
            columns[name] = frame[name].astype(object).where(frame[name].notna(), "").astype(str).to_numpy()
        elif isinstance(frame[name].dtype, np.dtype) and frame[name].dtype.kind in "fi":
            columns[name] = frame[name].to_numpy(dtype=dtype)  # already numbers: to_numeric would only copy
        else:
            columns[name] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=dtype)
    return pd.DataFrame(columns, index=frame.index)
