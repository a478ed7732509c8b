"""The deeper questions on top of an analysis's result: analysis_type "comparison" (analysis.comparison) and
"what_if" (analysis.what_if). explain.run calls `answer` once the ordinary result of the explained
rows is built; this adds the question's part and replaces the summary's body with the question's (the
caution about the model, analysis.data_checks.summary_note, is added after it by explain.run)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis import comparison, what_if
from analysis import labels as column_labels
from analysis.comparison import CohortSelection
from analysis.dataset_meta import DatasetMeta
from analysis.explained import Explanation, ShapColumns
from analysis.labels import shown_name
from analysis.questions import refuse_multiclass
from analysis.request import AnalyzeRequest
from analysis.result import Result
from analysis.selection import Selection
from explain import engine
from explain.training import TrainedModel


def _target_label(trained: TrainedModel, target: str, labels: dict[str, str]) -> str:
    """What the raw scale measures: the target (by its label), or for a binary one the log-odds of its
    second class."""
    shown = shown_name(labels, target)
    if trained.meta.task == "binary":
        return f"{shown} = {trained.meta.class_names[1]}"
    return shown


def _compare(result: Result, request: AnalyzeRequest, meta: DatasetMeta, selection: Selection,
             trained: TrainedModel, explanation: Explanation, target: str) -> None:
    assert isinstance(selection, CohortSelection) and request.cohorts is not None
    binary = trained.meta.task == "binary"
    probability = np.asarray(explanation.predictions, dtype=float) if binary else None
    part = comparison.compare(explanation.values, explanation.raw, selection.membership, selection.names,
                              trained.meta.features, request.cohorts, probability)
    labels = column_labels.of(meta)
    result.summary = comparison.summary(part, _target_label(trained, target, labels), labels)
    result.comparison = part


def _what_if(result: Result, request: AnalyzeRequest, meta: DatasetMeta,
             selection: Selection, trained: TrainedModel, explanation: Explanation, target: str,
             passes: dict[str, Any]) -> None:
    assert request.scenarios is not None
    features = trained.meta.features
    binary = trained.meta.task == "binary"

    def explain(x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        shap, raw, _ = engine.shap_matrix(trained.model, trained.tables, x, trained.meta.cat_features,
                                          passes["thread_count"], passes["batch_size"])
        return shap[:, :-1], raw

    outcomes = what_if.run(selection.frame, meta, trained.meta, request.scenarios, explain, passes["float_dtype"])
    order = np.arange(len(explanation.raw))  # what_if keeps the selected order, as `results` does
    items = [what_if.entry(o, explanation.values, explanation.raw, features, binary,
                             lambda matrix: ShapColumns(features, matrix, order)) for o in outcomes]
    labels = column_labels.of(meta)
    result.summary = what_if.summary(items, _target_label(trained, target, labels), len(order), binary, labels)
    result.scenarios = items
    result.warnings = result.warnings + [w for o in outcomes for w in o.warnings]


def answer(result: Result, request: AnalyzeRequest, meta: DatasetMeta, target: str, trained: TrainedModel,
           selection: Selection, explanation: Explanation, **passes: Any) -> None:
    """Add the question's part to `result`; `passes` are the SHAP pass's thread_count, batch_size and
    float_dtype. Multiclass targets are refused (the web refuses them first)."""
    if trained.meta.task == "multiclass":
        refuse_multiclass(request.analysis_type, target)
    if request.analysis_type == "comparison":
        _compare(result, request, meta, selection, trained, explanation, target)
    else:
        _what_if(result, request, meta, selection, trained, explanation, target, passes)
