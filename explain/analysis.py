"""One analysis: select rows, compute their exact TreeSHAP values (explain.engine), build the result."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from catboost import Pool

from common.request import AnalyzeRequest
from common.selection import Selection, select_rows
from explain import engine
from explain.training import TrainedModel, feature_frame

TOP_CONTRIBUTORS = 3
ROW_CHUNK = 10_000  # result rows built and encoded at a time
Progress = Callable[[str], None]


def _explained(trained: TrainedModel, shap: np.ndarray, raw: np.ndarray):
    """Per row: the explained SHAP vector, raw score and prediction; the base value; per-task extras."""
    task = trained.meta["task"]
    if task == "multiclass":
        classes = trained.meta["classes"]
        chosen = np.argmax(raw, axis=1)
        rows = np.arange(len(raw))
        values = shap[rows, chosen, :-1]
        base_value: Any = {cls: float(shap[0, k, -1]) for k, cls in enumerate(classes)}
        proba = np.exp(raw - raw.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        predictions: list[Any] = [classes[k] for k in chosen]
        return values, raw[rows, chosen], predictions, base_value, {
            "explained_class": predictions, "probability": proba[rows, chosen]}
    values = shap[:, :-1]
    extra: dict[str, Any] = {}
    if task == "binary":
        probability = 1.0 / (1.0 + np.exp(-raw))
        predictions = probability.tolist()
        extra["predicted_class"] = [trained.meta["classes"][int(p > 0.5)] for p in probability]
    else:
        predictions = raw.tolist()
    return values, raw, predictions, float(shap[0, -1]), extra


class ShapColumns:
    """`shap_values` of the result: one contiguous column per feature, made when it is encoded, so the
    (rows x features) matrix is never copied whole. Rows follow `order`, the order of `results`."""

    def __init__(self, features: list[str], values: np.ndarray, order: np.ndarray) -> None:
        self.features = features
        self.values = values
        self.order = order

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        for i, name in enumerate(self.features):
            yield name, np.ascontiguousarray(self.values[self.order, i])

    def to_dict(self) -> dict[str, np.ndarray]:
        return dict(self.items())


class ResultRows:
    """`results` of the result: the row objects, built `chunk` rows at a time when they are encoded, so
    all of them never exist at once (100,000 rows of dicts would take about 1 KB each)."""

    def __init__(self, build: Callable[[np.ndarray], list[dict[str, Any]]], order: np.ndarray, chunk: int) -> None:
        self._build = build
        self._order = order
        self._chunk = max(1, chunk)

    def __len__(self) -> int:
        return len(self._order)

    def first(self) -> dict[str, Any]:
        return self._build(self._order[:1])[0]

    def chunks(self) -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(self._order), self._chunk):
            yield self._build(self._order[start:start + self._chunk])

    def to_list(self) -> list[dict[str, Any]]:
        return [row for chunk in self.chunks() for row in chunk]


def _summary(request: AnalyzeRequest, meta: dict, target: str, ranking: list[tuple[str, float]], direction: dict,
             rows: int, results: ResultRows) -> str:
    total = sum(v for _, v in ranking) or 1.0
    top = ranking[:3]
    drivers = ", ".join(f"{name} ({100 * value / total:.0f}%)" for name, value in top)
    scope = " and ".join(request.demographic_filters) or "all rows"
    effects = [f"higher {name} tends to {'raise' if direction[name] > 0 else 'lower'} {target}"
               for name, _ in top if direction.get(name)]
    effect_text = ("; ".join(effects) + ".").capitalize() if effects else ""
    if request.analysis_type == "ranking":
        first = results.first()
        label = next((str(first[c]) for c in meta["id_columns"] if first.get(c) is not None), "row 1")
        return (f"Ranked {rows} rows of '{meta['name']}' ({scope}) by predicted {target}: {label} ranks first "
                f"with {first['prediction']}. The ranking is driven mostly by {drivers} of the total SHAP "
                f"impact. {effect_text}").strip()
    return (f"Across {rows} rows of '{meta['name']}' ({scope}), the strongest drivers of {target} are {drivers} "
            f"of the mean absolute SHAP impact. {effect_text}").strip()


@dataclass(frozen=True)
class Explanation:
    """What the SHAP pass found for the explained rows (positions of the explained frame)."""

    values: np.ndarray  # (rows, features): the explained SHAP vector of each row
    raw: np.ndarray  # (rows,): the raw score of the explained output
    predictions: list[Any]
    base_value: Any
    extra: dict[str, Any]  # per-task columns: predicted_class, or explained_class and probability


def _ranking(features: list[str], values: np.ndarray) -> list[tuple[str, float]]:
    """Features by mean absolute SHAP value, largest first (ties keep the features' order)."""
    importance = np.abs(values).mean(axis=0)
    return [(features[i], float(importance[i])) for i in np.argsort(-importance, kind="stable")]


def _directions(x: pd.DataFrame, values: np.ndarray, features: list[str], cat_features: list[str]) -> dict:
    """Per numeric feature, the correlation of its values with its SHAP values (the sign says which way it acts)."""
    direction = {}
    for i, name in enumerate(features):
        if name in cat_features:
            continue
        column = x.iloc[:, i].to_numpy(dtype=float)
        ok = np.isfinite(column)
        if ok.sum() > 2 and np.std(column[ok]) > 0 and np.std(values[ok, i]) > 0:
            direction[name] = float(np.corrcoef(column[ok], values[ok, i])[0, 1])
    return direction


def _order(explanation: Explanation, task: str, ranked: bool) -> np.ndarray:
    """The order of `results`: by predicted score (ranking, multiclass by probability) or as selected."""
    if not ranked:
        return np.arange(len(explanation.raw))
    key = explanation.raw if task != "multiclass" else np.asarray(explanation.extra["probability"])
    return np.argsort(-key, kind="stable")


class RowBuilder:
    """Builds the row objects of `results` for given positions of the explained frame."""

    def __init__(self, shown: dict[str, np.ndarray], x: pd.DataFrame, features: list[str],
                 explanation: Explanation, order: np.ndarray, ranked: bool) -> None:
        self.shown, self.x, self.features, self.explanation = shown, x, features, explanation
        self.raw = explanation.raw.tolist()
        self.extra = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in explanation.extra.items()}
        self.position: np.ndarray | None = None
        if ranked:
            self.position = np.empty(len(order), dtype=np.int64)
            self.position[order] = np.arange(1, len(order) + 1)

    def __call__(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """The row objects of `rows` (positions in the explained frame), in that order."""
        chunk_values = self.explanation.values[rows]
        top_idx = np.argsort(-np.abs(chunk_values), axis=1, kind="stable")[:, :TOP_CONTRIBUTORS]
        top_shap = np.take_along_axis(chunk_values, top_idx, axis=1).tolist()
        # the feature values shown beside them: Python objects (floats, strings), NaN made None below
        top_x = np.take_along_axis(self.x.iloc[rows].to_numpy(dtype=object), top_idx, axis=1).tolist()
        return [self._row(r, picked, shap_values, shown_x)
                for r, picked, shap_values, shown_x in zip(rows.tolist(), top_idx.tolist(), top_shap, top_x,
                                                           strict=True)]

    def _row(self, r: int, picked: list[int], shap_values: list[float], shown_x: list[Any]) -> dict[str, Any]:
        row: dict[str, Any] = {c: _plain(column[r]) for c, column in self.shown.items()}
        row["prediction"] = self.explanation.predictions[r]
        row["raw_prediction"] = self.raw[r]
        for name, column in self.extra.items():
            row[name] = column[r]
        row["top_contributors"] = [
            {"feature": self.features[j], "shap_value": v, "value": xv if xv == xv else None}  # NaN != NaN
            for j, v, xv in zip(picked, shap_values, shown_x, strict=True)
        ]
        if self.position is not None:
            row["rank"] = int(self.position[r])
        return row


def _shown_columns(selection: Selection, meta: dict, target: str) -> dict[str, np.ndarray]:
    """The columns each result row repeats: the id columns, then the target when the rows have it."""
    shown = [c for c in meta["id_columns"] if c in selection.frame.columns]
    if target in selection.frame.columns:
        shown.append(target)
    return {c: selection.frame[c].to_numpy(dtype=object) for c in shown}


def analyze(frame: pd.DataFrame, meta: dict, request: AnalyzeRequest, target: str, trained: TrainedModel, *,
            thread_count: int, batch_size: int, max_rows: int, float_dtype: str = "float64",
            row_chunk: int = ROW_CHUNK, progress: Progress = lambda stage: None) -> dict[str, Any]:
    """Explain the selected rows with `trained`; returns the result object (README, "The result").

    `shap_values` and `results` are ShapColumns and ResultRows: they are materialized when the result is
    encoded (explain.encoding), `row_chunk` rows at a time, so a large analysis never holds every row object."""
    features = trained.meta["features"]
    selection = select_rows(frame, meta, request, max_rows)
    x = feature_frame(selection.frame, features, trained.meta["cat_features"], dtype=float_dtype)

    progress("computing_shap")
    started = time.perf_counter()
    shap, raw, used = engine.shap_matrix(trained.model, trained.tables, x, trained.meta["cat_features"],
                                         thread_count, batch_size)
    explanation = Explanation(*_explained(trained, shap, raw))
    del shap, raw  # a multiclass matrix is (rows, classes, features+1): only the explained class is kept
    timings: dict[str, float | str] = {"shap_s": time.perf_counter() - started, "shap_engine": used}

    progress("building_result")
    started = time.perf_counter()
    result = _result(request, meta, target, trained, selection, x, explanation, row_chunk)
    result["timings"] = timings | {"result_s": time.perf_counter() - started}
    return result


def _result(request: AnalyzeRequest, meta: dict, target: str, trained: TrainedModel, selection: Selection,
            x: pd.DataFrame, explanation: Explanation, row_chunk: int) -> dict[str, Any]:
    """The result object but its timings; `results` and `shap_values` follow the same row order."""
    features = trained.meta["features"]
    ranked = request.analysis_type == "ranking"
    order = _order(explanation, trained.meta["task"], ranked)
    rows = RowBuilder(_shown_columns(selection, meta, target), x, features, explanation, order, ranked)
    results = ResultRows(rows, order, row_chunk)
    ranking = _ranking(features, explanation.values)
    direction = _directions(x, explanation.values, features, trained.meta["cat_features"])
    return {
        "success": True,
        "analysis_type": request.analysis_type,
        "target_variable": target,
        "dataset": meta["name"],
        "explained_rows": len(x),
        "selected_rows": selection.selected_rows,
        "summary": _summary(request, meta, target, ranking, direction, len(x), results),
        "feature_importance": [{"feature": name, "importance": value} for name, value in ranking],
        "shap_values": ShapColumns(features, explanation.values, order),
        "base_value": explanation.base_value,
        "results": results,
        "model": _model_info(trained),
        "version_info": {"dataset_version": meta["version"], "model_version": trained.model_id},
        "warnings": selection.warnings,
    }


def _model_info(trained: TrainedModel) -> dict[str, Any]:
    return {k: trained.meta[k] for k in ("task", "metrics", "trained_rows", "features")} | {
        "id": trained.model_id, "trained_in_this_job": trained.trained_now}


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar: numpy numbers become Python ones, NaN/inf become None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def warm_up() -> None:
    """Pay CatBoost's one-time clock calibration in the worker parent, so forked work horses inherit it.

    The first training or SHAP call in a process calibrates CatBoost's timer (NHPTimer: nine 5 ms
    sleeps, ~45 ms of every job's latency when each job runs in a fresh fork). Everything here is
    single-threaded: with `thread_count=1` on the Pool and the model CatBoost starts no oneTBB worker
    thread, and a fork parent must not own one (worker/__main__.py, tests/test_worker_fork_safety.py)."""
    from catboost import CatBoostRegressor

    rows = 20
    pool = Pool(pd.DataFrame({"x": np.arange(rows, dtype="float64")}), np.arange(rows, dtype="float64"),
                thread_count=1)
    CatBoostRegressor(iterations=2, depth=1, thread_count=1, verbose=False, allow_writing_files=False).fit(pool)
