"""The web's checks of the deeper questions (analysis_type comparison and what_if) against the dataset's
rows, before anything is enqueued; the job computes them in explain.question_answers."""

from __future__ import annotations

import pandas as pd

from analysis import comparison, datasets, what_if
from analysis.dataset_meta import DatasetMeta
from analysis.features import choose_features
from analysis.request import AnalyzeRequest
from analysis.selection import Selection
from common.errors import InvalidRequest, TooManyRows, shown

QUESTIONS = ("comparison", "what_if")


class MulticlassNotSupported(InvalidRequest):
    code = "multiclass_not_supported"


def refuse_multiclass(analysis_type: str, target: str) -> None:
    raise MulticlassNotSupported(
        f"analysis_type {analysis_type} explains one number per row (a regression's prediction, a binary "
        f"target's log-odds); {shown(target)} has more than two classes. Use correlation or ranking, or a "
        "binary or numeric target.")


def check_what_if_size(request: AnalyzeRequest, rows: int, features: int, max_cells: int) -> None:
    """Refuse (400) a what-if whose scenarios would hold more than `max_cells` (WHAT_IF_MAX_CELLS) values:
    each scenario returns (rows x features) SHAP values and their changes, encoded in one piece."""
    count = len(request.scenarios or [])
    if count * rows * features <= max_cells:
        return
    fitting = max_cells // (count * features)
    raise TooManyRows(
        f"what_if would return {count * rows * features} per-row values ({count} scenarios x {rows} rows x "
        f"{features} features), above WHAT_IF_MAX_CELLS ({max_cells}); send fewer scenarios, a smaller "
        f"sample_size (at most {fitting} rows with {count} scenarios), narrower demographic_filters or more "
        "exclude_columns.", details={"scenarios": count, "rows": rows, "features": features,
                                     "max_cells": max_cells})


def check(frame: pd.DataFrame, meta: DatasetMeta, request: AnalyzeRequest, selection: Selection, max_rows: int, *,
          what_if_max_cells: int) -> Selection:
    """Refuse (400) what the question cannot answer: a multiclass target, an empty cohort, a bad scenario,
    a what-if larger than WHAT_IF_MAX_CELLS. The rows the analysis explains: the cohorts' for a comparison,
    `selection` otherwise."""
    if request.analysis_type not in QUESTIONS:
        return selection
    target = datasets.resolve_target(meta, request.target_variable)
    if datasets.task_of(meta.column(target)) == "multiclass":
        refuse_multiclass(request.analysis_type, target)
    if request.cohorts is not None:
        return comparison.select_cohorts(frame, meta, request, max_rows)
    if request.scenarios is not None:
        what_if.check(selection.frame, meta, target, request.scenarios, request.exclude_columns)
        features = len(choose_features(meta, target, request.exclude_columns).features)
        check_what_if_size(request, len(selection.frame), features, what_if_max_cells)
    return selection
