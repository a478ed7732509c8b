"""One analysis: select rows, compute their exact TreeSHAP values (explain.engine), build the result."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from catboost import Pool

from analysis import data_checks, effects, wording
from analysis import labels as column_labels
from analysis.dataset_meta import DatasetMeta
from analysis.effects import Effect
from analysis.explained import Explanation, ResultRows, ShapColumns
from analysis.features import feature_frame
from analysis.labels import shown_name
from analysis.plan import AnalysisPlan, PlanLimits, explained_rows, make_plan
from analysis.questions import QUESTIONS
from analysis.request import AnalyzeRequest
from analysis.result import ModelInfo, Result, VersionInfo
from analysis.rows import RowBuilder
from analysis.selection import Selection
from explain import engine, interactions, question_answers
from explain.training import TrainedModel

SUMMARY_DRIVERS = 3  # features the summary names
ROW_CHUNK = 10_000  # result rows built and encoded at a time
MAGNITUDE_CHUNK = 4_096  # rows of |SHAP| made at a time for the ranking (4 MB at 131 features)
Progress = Callable[[str], None]


def _explained(trained: TrainedModel, shap: np.ndarray, raw: np.ndarray):
    """Per row: the explained SHAP vector, raw score and prediction; the base value; per-task extras."""
    task = trained.meta.task
    if task == "multiclass":
        classes = trained.meta.class_names
        chosen = np.argmax(raw, axis=1)
        rows = np.arange(len(raw))
        values = shap[rows, chosen, :-1]
        base_value: Any = {cls: float(shap[0, k, -1]) for k, cls in enumerate(classes)}
        proba = np.exp(raw - raw.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        predictions: list[Any] = [classes[k] for k in chosen]
        return values, raw[rows, chosen], predictions, base_value, {
            "explained_class": predictions, "probability": proba[rows, chosen]}, proba
    values = shap[:, :-1]
    extra: dict[str, Any] = {}
    if task == "binary":
        probability = 1.0 / (1.0 + np.exp(-raw))
        predictions = probability.tolist()
        extra["predicted_class"] = [trained.meta.class_names[int(p > 0.5)] for p in probability]
    else:
        predictions = raw.tolist()
    return values, raw, predictions, float(shap[0, -1]), extra


def _summary(request: AnalyzeRequest, meta: DatasetMeta, target: str, ranking: list[tuple[str, float]],
             found: dict[str, Effect], rows: int, results: ResultRows, predicted: str) -> str:
    """The summary's body (docs/summary.md): the strongest drivers, and what may be said of their effects in
    the model (analysis.wording); `predicted` is the model's output in words (analysis.wording.outcome)."""
    total = sum(v for _, v in ranking) or 1.0
    top = ranking[:SUMMARY_DRIVERS]
    labels = column_labels.of(meta)  # the summary names a labelled column by its label (docs/datasets.md, "Labels")
    drivers = ", ".join(f"{shown_name(labels, name)} ({100 * value / total:.0f}%)" for name, value in top)
    filters = " and ".join(request.demographic_filters)
    where = (f"rows of '{meta.name}' ({filters or 'all rows'})" if request.data is None
             else f"rows of the request's data{f' ({filters})' if filters else ''}")
    phrases = [wording.effect_phrase(shown_name(labels, name), found[name], value / total, predicted)
               for name, value in top]
    effect_text = " ".join(_sentence(p) for p in phrases if p)
    target = shown_name(labels, target)
    if request.analysis_type == "ranking":
        first = results.first()
        ids = {c: results.column(c) for c in meta.id_columns if c in results.fields()}
        label = wording.row_names(ids, rows)[0]  # by its ids, its position when they are not unique
        shown_value = wording.number(first["prediction"])  # a class for a multiclass target
        return (f"Ranked {wording.number(rows)} {where} by {predicted}: {label} ranks first "
                f"with {shown_value}. The ranking is driven mostly by {drivers} of the total SHAP "
                f"impact. {effect_text}").strip()
    return (f"Across {wording.number(rows)} {where}, the strongest drivers of the {predicted} are {drivers} "
            f"of the mean absolute SHAP impact. {effect_text}").strip()


def _sentence(text: str) -> str:
    """`text` as a sentence: its first letter upper case and a full stop; the names in it keep their case
    (str.capitalize would turn "Credit_Score_Avg" into "credit_score_avg")."""
    return text[:1].upper() + text[1:] + "."


def _ranking(features: list[str], values: np.ndarray) -> list[tuple[str, float]]:
    """Features by mean absolute SHAP value, largest first (ties keep the features' order)."""
    importance = _mean_magnitude(values)
    return [(features[i], float(importance[i])) for i in np.argsort(-importance, kind="stable")]


def _mean_magnitude(values: np.ndarray) -> np.ndarray:
    """`np.abs(values).mean(axis=0)`, bit for bit, without the |values| matrix (at 100,000 x 131 a fresh 105 MB,
    whose first touch in a new work horse cost most of 0.2 s): |values| a chunk of rows at a time in one small
    buffer. numpy sums a column down the rows in order, from 0, so the sum so far put before a chunk's rows
    (as its first row) continues that sum exactly; the mean is that sum divided by the rows, as numpy's."""
    rows, width = values.shape
    if rows <= MAGNITUDE_CHUNK or values.dtype != np.float64:  # (numpy sums float32 in float32)
        return np.abs(values).mean(axis=0)
    buffer = np.empty((MAGNITUDE_CHUNK + 1, width))
    total = np.zeros(width)
    for start in range(0, rows, MAGNITUDE_CHUNK):
        part = values[start:start + MAGNITUDE_CHUNK]
        buffer[0] = total
        np.abs(part, out=buffer[1:len(part) + 1])
        np.add.reduce(buffer[:len(part) + 1], axis=0, out=total)
    return total / rows


def _order(explanation: Explanation, task: str, ranked: bool) -> np.ndarray:
    """The order of `results`: by predicted score (ranking, multiclass by probability) or as selected."""
    if not ranked:
        return np.arange(len(explanation.raw))
    key = explanation.raw if task != "multiclass" else np.asarray(explanation.extra["probability"])
    return np.argsort(-key, kind="stable")


def _shown_columns(selection: Selection, meta: DatasetMeta, target: str) -> dict[str, np.ndarray]:
    """The columns each result row repeats: the id columns, then the target when the rows have it.
    Plain numpy numbers stay numeric arrays (turned to Python numbers a chunk at a time, analysis.rows);
    anything else (strings, pandas' nullable and date types) becomes Python objects as pandas gives them."""
    shown = [c for c in meta.id_columns if c in selection.frame.columns]
    if target in selection.frame.columns:
        shown.append(target)
    return {c: _column(selection.frame[c]) for c in shown}


def _column(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "fiub":
        return series.to_numpy()
    return series.to_numpy(dtype=object)


def _row_builder(selection: Selection, meta: DatasetMeta, target: str, x: pd.DataFrame, features: list[str],
                 explanation: Explanation, order: np.ndarray, ranked: bool) -> RowBuilder:
    """The builder of `results`' rows: shown columns, prediction, raw_prediction, the task's extras, then
    top_contributors (and rank), in that order."""
    columns: dict[str, np.ndarray | list[Any]] = {**_shown_columns(selection, meta, target),
                                                  "prediction": explanation.predictions,
                                                  "raw_prediction": explanation.raw, **explanation.extra}
    position = None
    if ranked:
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(1, len(order) + 1)
    return RowBuilder(columns, x, features, explanation.values, position)


def analyze(frame: pd.DataFrame, meta: DatasetMeta, request: AnalyzeRequest, target: str, trained: TrainedModel, *,
            max_rows: int, interaction_max_rows: int | None = None, **passes: Any) -> Result:
    """In-process use (tests, benchmarks): plan `request` for `target` as the web does (analysis.plan), then
    `explain_plan`. `passes` are explain_plan's keyword arguments."""
    limits = PlanLimits(max_rows, what_if_max_cells=2**62, interaction_max_rows=interaction_max_rows or max_rows)
    plan, _ = make_plan(frame, meta, request.model_copy(update={"target_variable": target}), limits)
    return explain_plan(frame, meta, plan, trained, **passes)


def explain_plan(frame: pd.DataFrame, meta: DatasetMeta, plan: AnalysisPlan, trained: TrainedModel, *,
                 thread_count: int, batch_size: int, float_dtype: str = "float64", row_chunk: int = ROW_CHUNK,
                 progress: Progress = lambda stage: None) -> Result:
    """Explain the rows `plan` selects with `trained` (a model of the plan's features); returns the result
    object (docs/api.md, "The result").

    `shap_values` and `results` are ShapColumns and ResultRows: they are materialized when the result is
    encoded (analysis.encoding), `row_chunk` rows at a time, so a large analysis never holds every row object."""
    request, target = plan.request, plan.target
    features = trained.meta.features
    selection = explained_rows(frame, meta, plan)
    x = feature_frame(selection.frame, features, trained.meta.cat_features, dtype=float_dtype)

    progress("computing_shap")
    started = time.perf_counter()
    shap, raw, used = _shap(trained, x, meta.version if request.data is None and float_dtype == "float64" else None,
                            thread_count, batch_size)
    explanation = Explanation(*_explained(trained, shap, raw))
    del shap, raw  # a multiclass matrix is (rows, classes, features+1): only the explained class is kept
    timings: dict[str, float | str] = {"shap_s": time.perf_counter() - started, "shap_engine": used}

    progress("building_result")
    started = time.perf_counter()
    result = _result(plan, meta, trained, selection, x, explanation, row_chunk)
    timings["result_s"] = time.perf_counter() - started
    timings |= _add_part(result, request, meta, target, trained, selection, x, explanation,
                         {"thread_count": thread_count, "batch_size": batch_size, "float_dtype": float_dtype})
    # the caution about the model ends every summary, the parts' own included (a question replaces the body)
    result.summary += data_checks.summary_note(trained.meta, target, column_labels.of(meta))
    result.timings = timings
    return result


def _shap(trained: TrainedModel, x: pd.DataFrame, version: str | None, thread_count: int,
          batch_size: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The rows' SHAP values, raw scores and engine: taken from the model's values of every row of this
    dataset `version` when a worker parent computed them (the same numbers: each row is explained on its
    own), else computed now. `version` is None for rows the request sent itself, or float32 features."""
    kept = trained.dataset_shap
    found = kept.rows(x) if kept is not None and version is not None and kept.version == version else None
    if found is not None:
        return found[0], found[1], engine.LEAF_TABLE
    return engine.shap_matrix(trained.model, trained.tables, x, trained.meta.cat_features, thread_count,
                              batch_size)


def _add_part(result: Result, request: AnalyzeRequest, meta: DatasetMeta, target: str, trained: TrainedModel,
              selection: Selection, x: pd.DataFrame, explanation: Explanation, passes: dict[str, Any]) -> dict:
    """Add the part of the result an analysis type has beyond the ordinary one: the question's (comparison,
    what_if: explain.question_answers) or the interaction values (explain.interactions); `passes` are the SHAP
    pass's thread_count, batch_size and float_dtype. Returns its seconds, by timing name."""
    started = time.perf_counter()
    if request.analysis_type in QUESTIONS:
        question_answers.answer(result, request, meta, target, trained, selection, explanation, **passes)
        return {"question_s": time.perf_counter() - started}
    if request.analysis_type == "interactions":
        interactions.add_to(result, trained, x, explanation.values, explanation.raw,
                            explanation.extra.get("explained_class"), column_labels.of(meta), passes["thread_count"])
        return {"interactions_s": time.perf_counter() - started}
    return {}


def _result(plan: AnalysisPlan, meta: DatasetMeta, trained: TrainedModel, selection: Selection, x: pd.DataFrame,
            explanation: Explanation, row_chunk: int) -> Result:
    """The result object but its timings; `results` and `shap_values` follow the same row order."""
    request, target = plan.request, plan.target
    features = trained.meta.features
    labels = column_labels.of(meta)
    ranked = request.analysis_type == "ranking"
    order = _order(explanation, trained.meta.task, ranked)
    rows = _row_builder(selection, meta, target, x, features, explanation, order, ranked)
    warnings, flags = _checks(plan, trained, x)
    results = ResultRows(rows, order, row_chunk, flags)
    ranking = _ranking(features, explanation.values)
    shap_values = ShapColumns(features, explanation.values, order, x, trained.meta.classes, explanation.probabilities)
    found = effects.effects(x, shap_values.feature_major(), features, trained.meta.cat_features)
    predicted = wording.outcome(shown_name(labels, target), trained.meta.task, _positive_class(trained))
    return Result(
        analysis_type=request.analysis_type,
        target_variable=target,
        dataset=meta.name,
        explained_rows=len(x),
        selected_rows=selection.selected_rows,
        summary=_summary(request, meta, target, ranking, found, len(x), results, predicted),  # analyze adds the note
        feature_importance=[{"feature": name, "importance": value} | (
            {"label": labels[name]} if name in labels else {}) | {"effect": found[name].to_json()}
            for name, value in ranking],
        shap_values=shap_values,
        base_value=explanation.base_value,
        results=results,
        model=_model_info(trained),
        version_info=VersionInfo(meta.version, trained.model_id),
        warnings=selection.warnings + warnings,
    )


def _checks(plan: AnalysisPlan, trained: TrainedModel, x: pd.DataFrame) -> tuple[list[str], dict[int, list[str]]]:
    """The warnings about the data and the model (analysis.data_checks), and the out-of-range flags of the
    caller's `data` rows. Dataset rows are not checked: the training range is that same table's."""
    request, target = plan.request, plan.target
    dropped = plan.feature_choice.warnings()
    seen = trained.meta.training_range
    flags = data_checks.out_of_range(x, seen) if request.data is not None and seen else {}
    given = len(request.data) if request.data is not None else len(x)  # the rows sent, before any row cap
    return dropped + data_checks.notes(trained.meta, target, flags, given), flags


def _positive_class(trained: TrainedModel) -> str | None:
    """A binary model's positive class: CatBoost's second class, whose log-odds its raw scores are."""
    classes = trained.meta.class_names
    return classes[1] if trained.meta.task == "binary" and len(classes) == 2 else None


def _model_info(trained: TrainedModel) -> ModelInfo:
    meta = trained.meta
    return ModelInfo(task=meta.task, metrics=meta.metrics, trained_rows=meta.trained_rows, features=meta.features,
                     id=trained.model_id, trained_in_this_job=trained.trained_now,
                     positive_class=_positive_class(trained), trees=meta.trees, params=dict(meta.params))


def warm_up() -> None:
    """Pay CatBoost's one-time clock calibration in the worker parent, so forked work horses inherit it.

    The first training or SHAP call in a process calibrates CatBoost's timer (NHPTimer: nine 5 ms
    sleeps, ~45 ms of every job's latency when each job runs in a fresh fork). Everything here is
    single-threaded: with `thread_count=1` on the Pool and the model CatBoost starts no oneTBB worker
    thread, and a fork parent must not own one (worker/__main__.py, tests/unit/worker/test_worker_fork_safety.py)."""
    from catboost import CatBoostRegressor

    rows = 20
    pool = Pool(pd.DataFrame({"x": np.arange(rows, dtype="float64")}), np.arange(rows, dtype="float64"),
                thread_count=1)
    CatBoostRegressor(iterations=2, depth=1, thread_count=1, verbose=False, allow_writing_files=False).fit(pool)
