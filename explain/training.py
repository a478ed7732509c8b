"""CatBoost training: the parameters, the task inferred from the target, the model's input frame, the
seeded held-out split and its metrics, and the model's bytes. Pure: the store (worker.model_store) keeps
the models in Redis and trains each one once, under a lock."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
from catboost import CatBoost, CatBoostClassifier, CatBoostRegressor, Pool

TRAINING_PARAMS: dict[str, Any] = {
    "iterations": 300,
    "depth": 6,
    "learning_rate": 0.08,
    "random_seed": 0,
}
HOLDOUT_FRACTION = 0.2
MAX_CLASSES = 20


class TrainingError(ValueError):
    """The target cannot be modelled (too few rows, a single value, too many classes...)."""


@dataclass
class TrainedModel:
    model_id: str
    model: CatBoost
    meta: dict[str, Any]
    trained_now: bool = False


def infer_task(target: pd.Series) -> str:
    clean = target.dropna()
    distinct = clean.nunique()
    if distinct < 2:
        raise TrainingError(f"target {target.name!r} has fewer than two distinct values; nothing to explain.")
    if distinct == 2:
        return "binary"
    if pd.api.types.is_numeric_dtype(clean) and not pd.api.types.is_bool_dtype(clean):
        return "regression"
    if distinct > MAX_CLASSES:
        raise TrainingError(f"target {target.name!r} has {distinct} classes; at most {MAX_CLASSES} are supported.")
    return "multiclass"


def model_id_for(dataset_version: str, target: str, features: list[str]) -> str:
    payload = orjson.dumps([dataset_version, target, features, TRAINING_PARAMS], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()[:24]


def categorical_features(frame: pd.DataFrame, features: list[str]) -> list[str]:
    return [f for f in features if not pd.api.types.is_numeric_dtype(frame[f]) or pd.api.types.is_bool_dtype(frame[f])]


def feature_frame(frame: pd.DataFrame, features: list[str], cat_features: list[str], dtype: str = "float64"):
    """The model's input: numeric columns as floats, categorical ones as strings (missing -> "")."""
    columns = {}
    for name in features:
        if name in cat_features:
            columns[name] = frame[name].astype(object).where(frame[name].notna(), "").astype(str).to_numpy()
        else:
            columns[name] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=dtype)
    return pd.DataFrame(columns, index=frame.index)


def _metrics(task: str, model: CatBoost, pool: Pool, y: np.ndarray) -> dict[str, float | None]:
    if len(y) == 0:
        return {}
    if task == "regression":
        pred = np.asarray(model.predict(pool), dtype=float)
        err = pred - y.astype(float)
        var = float(np.var(y.astype(float)))
        return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
                "r2": (1 - float(np.mean(err**2)) / var) if var > 0 else None, "holdout_rows": len(y)}
    pred = np.asarray(model.predict(pool)).reshape(-1)
    return {"accuracy": float(np.mean(pred.astype(str) == y.astype(str))), "holdout_rows": len(y)}


def train(frame: pd.DataFrame, target: str, features: list[str], thread_count: int) -> tuple[CatBoost, dict]:
    """Fit on a seeded 80% split and measure on the held-out 20%."""
    data = frame[frame[target].notna()]
    task = infer_task(data[target])
    if len(data) < 10:
        raise TrainingError(f"only {len(data)} rows have a value for {target!r}; at least 10 are needed.")
    cats = categorical_features(data, features)
    x = feature_frame(data, features, cats)
    y = data[target].to_numpy()
    if task != "regression":
        y = y.astype(str)
    order = np.random.default_rng(0).permutation(len(data))
    n_holdout = int(len(data) * HOLDOUT_FRACTION) if len(data) >= 50 else 0
    test_idx, train_idx = order[:n_holdout], order[n_holdout:]
    params = {**TRAINING_PARAMS, "thread_count": thread_count, "verbose": False, "allow_writing_files": False}
    model: CatBoost
    if task == "regression":
        model = CatBoostRegressor(**params)
    else:
        model = CatBoostClassifier(**params, loss_function="MultiClass" if task == "multiclass" else "Logloss")
    started = time.perf_counter()
    model.fit(Pool(x.iloc[train_idx], y[train_idx], cat_features=cats))
    seconds = time.perf_counter() - started
    holdout = Pool(x.iloc[test_idx], cat_features=cats)
    meta = {
        "task": task,
        "features": features,
        "cat_features": cats,
        "trained_rows": len(train_idx),
        "metrics": _metrics(task, model, holdout, y[test_idx]),
        "classes": [str(c) for c in model.classes_] if task != "regression" else None,
        "params": TRAINING_PARAMS,
        "training_seconds": round(seconds, 4),
        "trained_at": time.time(),
    }
    return model, meta


def to_bytes(model: CatBoost) -> bytes:
    fd, path = tempfile.mkstemp(suffix=".cbm")
    os.close(fd)
    try:
        model.save_model(path)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)




def from_bytes(blob: bytes, meta: dict[str, Any]) -> CatBoost:
    """A model saved by `to_bytes`, of the class its task needs."""
    model = CatBoostRegressor() if meta["task"] == "regression" else CatBoostClassifier()
    model.load_model(blob=blob)
    return model
