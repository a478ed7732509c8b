"""One analysis: select rows, compute native CatBoost TreeSHAP values, build the result (SPEC §4)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from catboost import Pool

from common.selection import select_rows
from worker.models import TrainedModel, feature_frame

TOP_CONTRIBUTORS = 3
Progress = Callable[[str], None]


def shap_matrix(trained: TrainedModel, x: pd.DataFrame, thread_count: int, batch_size: int) -> np.ndarray:
    """Native CatBoost ShapValues, batch by batch: (rows, features+1) or (rows, classes, features+1)."""
    cats = trained.meta["cat_features"]
    parts = []
    for start in range(0, len(x), batch_size):
        pool = Pool(x.iloc[start:start + batch_size], cat_features=cats)
        parts.append(trained.model.get_feature_importance(data=pool, type="ShapValues", thread_count=thread_count))
    return np.concatenate(parts, axis=0)


def _explained(trained: TrainedModel, x: pd.DataFrame, shap: np.ndarray, thread_count: int):
    """Per row: the explained SHAP vector, raw score and prediction; the base value; per-task extras."""
    pool = Pool(x, cat_features=trained.meta["cat_features"])
    task = trained.meta["task"]
    raw = np.asarray(trained.model.predict(pool, prediction_type="RawFormulaVal", thread_count=thread_count))
    if task == "multiclass":
        classes = trained.meta["classes"]
        chosen = np.argmax(raw, axis=1)
        rows = np.arange(len(x))
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


def _summary(request: dict, meta: dict, target: str, ranking: list[tuple[str, float]], direction: dict,
             rows: int, results: list[dict]) -> str:
    total = sum(v for _, v in ranking) or 1.0
    top = ranking[:3]
    drivers = ", ".join(f"{name} ({100 * value / total:.0f}%)" for name, value in top)
    scope = " and ".join(request.get("demographic_filters") or []) or "all rows"
    effects = [f"higher {name} tends to {'raise' if direction[name] > 0 else 'lower'} {target}"
               for name, _ in top if direction.get(name)]
    effect_text = ("; ".join(effects) + ".").capitalize() if effects else ""
    if request.get("analysis_type") == "ranking":
        first = results[0]
        label = next((str(first[c]) for c in meta["id_columns"] if first.get(c) is not None), "row 1")
        return (f"Ranked {rows} rows of '{meta['name']}' ({scope}) by predicted {target}: {label} ranks first "
                f"with {first['prediction']}. The ranking is driven mostly by {drivers} of the total SHAP "
                f"impact. {effect_text}").strip()
    return (f"Across {rows} rows of '{meta['name']}' ({scope}), the strongest drivers of {target} are {drivers} "
            f"of the mean absolute SHAP impact. {effect_text}").strip()


def analyze(frame: pd.DataFrame, meta: dict, request: dict[str, Any], target: str, trained: TrainedModel, *,
            thread_count: int, batch_size: int, max_rows: int, float_dtype: str = "float64",
            progress: Progress = lambda stage: None) -> dict[str, Any]:
    """Explain the selected rows with `trained`; returns the result object of SPEC §4."""
    timings: dict[str, float] = {}
    features = trained.meta["features"]
    selection = select_rows(frame, meta, request, max_rows)
    x = feature_frame(selection.frame, features, trained.meta["cat_features"], dtype=float_dtype)

    progress("computing_shap")
    started = time.perf_counter()
    shap = shap_matrix(trained, x, thread_count, batch_size)
    values, raw, predictions, base_value, extra = _explained(trained, x, shap, thread_count)
    timings["shap_s"] = time.perf_counter() - started

    progress("building_result")
    started = time.perf_counter()
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(-importance, kind="stable")
    ranking = [(features[i], float(importance[i])) for i in order]
    numeric = [i for i, f in enumerate(features) if f not in trained.meta["cat_features"]]
    direction = {}
    for i in numeric:
        column = x.iloc[:, i].to_numpy(dtype=float)
        ok = np.isfinite(column)
        if ok.sum() > 2 and np.std(column[ok]) > 0 and np.std(values[ok, i]) > 0:
            direction[features[i]] = float(np.corrcoef(column[ok], values[ok, i])[0, 1])

    top_idx = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :TOP_CONTRIBUTORS]
    shown = [c for c in meta["id_columns"] if c in selection.frame.columns]
    if target in selection.frame.columns:
        shown.append(target)
    shown_values = {c: selection.frame[c].to_numpy(dtype=object) for c in shown}
    x_values = x.to_numpy(dtype=object)
    extra_values = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in extra.items()}
    raw_list = raw.tolist()
    results = []
    for r in range(len(x)):
        row: dict[str, Any] = {c: _plain(shown_values[c][r]) for c in shown}
        row["prediction"] = predictions[r]
        row["raw_prediction"] = raw_list[r]
        for key, column in extra_values.items():
            row[key] = column[r]
        row["top_contributors"] = [
            {"feature": features[j], "shap_value": float(values[r, j]), "value": _plain(x_values[r, j])}
            for j in top_idx[r]
        ]
        results.append(row)
    if request.get("analysis_type") == "ranking":
        key = raw_list if trained.meta["task"] != "multiclass" else extra_values["probability"]
        for rank, r in enumerate(sorted(range(len(results)), key=lambda i: -key[i]), start=1):
            results[r]["rank"] = rank
        results.sort(key=lambda row: row["rank"])
    timings["result_s"] = time.perf_counter() - started

    return {
        "success": True,
        "analysis_type": request.get("analysis_type", "correlation"),
        "target_variable": target,
        "dataset": meta["name"],
        "explained_rows": len(x),
        "selected_rows": selection.selected_rows,
        "summary": _summary(request, meta, target, ranking, direction, len(x), results),
        "feature_importance": [{"feature": name, "importance": value} for name, value in ranking],
        "shap_values": dict(zip(features, np.ascontiguousarray(values.T), strict=True)),
        "base_value": base_value,
        "results": results,
        "model": {k: trained.meta[k] for k in ("task", "metrics", "trained_rows", "features")}
        | {"id": trained.model_id, "trained_in_this_job": trained.trained_now},
        "version_info": {"dataset_version": meta["version"], "model_version": trained.model_id},
        "warnings": selection.warnings,
        "timings": timings,
    }


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar: numpy numbers become Python ones, NaN/inf become None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
