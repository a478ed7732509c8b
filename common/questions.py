"""The web's checks of the deeper questions (analysis_type comparison and what_if) against the dataset's
rows, before anything is enqueued; the job computes them in explain.questions."""

from __future__ import annotations

import pandas as pd

from common import cohorts, datasets, scenarios
from common.errors import InvalidRequest, shown
from common.request import AnalyzeRequest
from common.selection import Selection

QUESTIONS = ("comparison", "what_if")


class MulticlassNotSupported(InvalidRequest):
    code = "multiclass_not_supported"


def task_of(meta: dict, target: str) -> str:
    """The task explain.training.infer_task will find, read from the dataset's stored column statistics."""
    column = next(c for c in meta["columns"] if c["name"] == target)
    if column.get("unique") == 2:
        return "binary"
    return "regression" if column["type"] == "numeric" else "multiclass"


def refuse_multiclass(analysis_type: str, target: str) -> None:
    raise MulticlassNotSupported(
        f"analysis_type {analysis_type} explains one number per row (a regression's prediction, a binary "
        f"target's log-odds); {shown(target)} has more than two classes. Use correlation or ranking, or a "
        "binary or numeric target.")


def check(frame: pd.DataFrame, meta: dict, request: AnalyzeRequest, selection: Selection, max_rows: int) -> None:
    """Refuse (400) what the question cannot answer: a multiclass target, an empty cohort, a bad scenario."""
    if request.analysis_type not in QUESTIONS:
        return
    target = datasets.resolve_target(meta, request.target_variable)
    if task_of(meta, target) == "multiclass":
        refuse_multiclass(request.analysis_type, target)
    if request.cohorts is not None:
        cohorts.select_cohorts(frame, meta, request, max_rows)
    if request.scenarios is not None:
        scenarios.check(selection.frame, meta, target, request.scenarios, request.exclude_columns)
