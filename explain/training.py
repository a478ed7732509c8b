"""CatBoost training: the parameters, the task inferred from the target, the model's input frame, the
seeded held-out split and its metrics, and the model's bytes. Pure: the store (worker.model_store) keeps
the models in Redis and trains each one once, under a lock."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
from catboost import CatBoost, CatBoostClassifier, CatBoostError, CatBoostRegressor, Pool

from analysis import data_checks, datasets
from analysis.datasets import MAX_CLASSES, Task, task_of_values
from analysis.features import feature_frame
from analysis.model_meta import Metrics, ModelMeta
from explain.treeshap import LeafTables

if TYPE_CHECKING:
    from explain.engine import DatasetShap


@dataclass(frozen=True)
class TrainingParams:
    """CatBoost's knobs that the service sets. Chosen by measurement (bench/training.py, docs/datasets.md, "Models"):

    - border_count None: by data width (`border_count_for`). Each tree level scores features x borders
      candidate splits, so on a wide table the default 254 borders make scoring the whole cost; holding
      features x borders near BORDER_BUDGET keeps narrow tables at full resolution (their smooth effects
      need it) and quantises wide ones coarsely (their many correlated columns make up for it).
    - early_stopping_rounds: stop when the held-out loss has not improved for this many trees and keep
      the best iteration (use_best_model). `iterations` stays the cap, so no model grows past the old 300.
    """

    iterations: int = 300
    depth: int = 6
    learning_rate: float = 0.08
    border_count: int | None = None
    early_stopping_rounds: int | None = 30
    random_seed: int = 0


PARAMS = TrainingParams()
LEGACY_PARAMS = TrainingParams(border_count=254, early_stopping_rounds=None)  # before issue 12, for bench/
BORDER_BUDGET = 8192  # features x borders: 32 features at CatBoost's full 254, 131 features at 32
MIN_BORDERS, MAX_BORDERS = 32, 254
HOLDOUT_FRACTION = 0.2
# in the model id: models stored before their meta held `leaks` and `training_range` (analysis.data_checks)
# are trained again rather than explained without those checks
META_FORMAT = 2


OnIteration = Callable[[int, int], None]  # (trees built, most trees): a training's progress
PROGRESS_INTERVAL_S = 0.25  # a training's progress is reported at most this often


class IterationReporter:
    """CatBoost's own callback mechanism (`fit(callbacks=[...])`: an object with `after_iteration(info)`):
    reports the trees built so far (`info.iteration`) to `report`: the first at once (the stage changes to
    training), then at most every PROGRESS_INTERVAL_S, so a long training shows it moves without a write to
    Redis per tree. Never stops the training."""

    def __init__(self, report: OnIteration, iterations: int) -> None:
        self.report, self.iterations = report, iterations
        self.last = -float("inf")

    def after_iteration(self, info: Any) -> bool:
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL_S:
            self.last = now
            self.report(int(info.iteration), self.iterations)
        return True  # go on: CatBoost stops when a callback answers False


class TrainingError(ValueError):
    """The target cannot be modelled (too few rows, a single value, too many classes...)."""


@dataclass
class TrainedModel:
    model_id: str
    model: CatBoost
    meta: ModelMeta
    trained_now: bool = False
    tables: LeafTables | None = None  # the leaf-table SHAP engine's tables; None: native ShapValues
    # an interactions analysis's tables, checked and stored once per model (worker.interaction_store): the
    # tables or None, and the engine note; None here: explain.interactions builds and checks them itself
    interactions: tuple[Any, str] | None = None
    dataset_shap: DatasetShap | None = None  # every row of one dataset version, computed by a worker parent


def checked_task(target: pd.Series, task: Task | None = None) -> Task:
    """The plan's task (analysis.plan), or the one rule's (analysis.datasets.task_of) when none is given;
    refused when the target cannot be trained on (the web refuses these first, from the stored statistics)."""
    clean = target.dropna()
    distinct = clean.nunique()
    if distinct < 2:
        raise TrainingError(f"target {target.name!r} has fewer than two distinct values; nothing to explain.")
    found = task or task_of_values(clean)
    if found == "multiclass" and distinct > MAX_CLASSES:
        raise TrainingError(f"target {target.name!r} has {distinct} classes; at most {MAX_CLASSES} are supported.")
    return found


def border_count_for(n_features: int) -> int:
    """The largest power of two with n_features x borders <= BORDER_BUDGET, within [32, 254]."""
    fit = BORDER_BUDGET // max(n_features, 1)
    power = 1 << max(fit, 1).bit_length() - 1
    return max(MIN_BORDERS, min(MAX_BORDERS, power))


def catboost_params(params: TrainingParams, n_features: int, thread_count: int) -> dict[str, Any]:
    """The keyword arguments of CatBoost's constructor for these params and this many features."""
    border_count = params.border_count or border_count_for(n_features)
    return {"iterations": params.iterations, "depth": params.depth, "learning_rate": params.learning_rate,
            "border_count": border_count, "random_seed": params.random_seed, "thread_count": thread_count,
            "verbose": False, "allow_writing_files": False}


def model_id_for(dataset_version: str, target: str, features: list[str], positive_class: str | None = None) -> str:
    """Hash of the inputs and PARAMS: a change of parameters trains new models instead of reusing old ones. A
    binary model's positive class is one of its inputs (it fixes CatBoost's class order); the other models'
    ids are those of the earlier builds."""
    inputs: list[Any] = [dataset_version, target, features, asdict(PARAMS), BORDER_BUDGET, META_FORMAT]
    payload = orjson.dumps(inputs + ([positive_class] if positive_class is not None else []),
                           option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()[:24]


def categorical_features(frame: pd.DataFrame, features: list[str]) -> list[str]:
    return [f for f in features if not pd.api.types.is_numeric_dtype(frame[f]) or pd.api.types.is_bool_dtype(frame[f])]




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
    proba = np.asarray(model.predict_proba(pool), dtype=float)
    classes = [str(c) for c in model.classes_]
    known = np.isin(y.astype(str), classes)  # a class seen only in the holdout has no probability column
    picked = proba[np.flatnonzero(known), [classes.index(c) for c in y.astype(str)[known]]]
    log_loss = float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0)))) if known.any() else None
    found: dict[str, float | None] = {"accuracy": float(np.mean(pred.astype(str) == y.astype(str))),
                                      "log_loss": log_loss, "holdout_rows": len(y)}
    # the baseline of analysis.data_checks' weak-model check: always guessing the holdout's commonest class
    found["majority_accuracy"] = float(pd.Series(y.astype(str)).value_counts().iloc[0] / len(y))
    if task == "binary":
        found["auc"] = data_checks.auc(y.astype(str) == classes[1], proba[:, 1])
    return found


@dataclass
class _Split:
    x: pd.DataFrame
    y: np.ndarray
    cats: list[str]
    train_idx: np.ndarray
    test_idx: np.ndarray

    def pool(self, idx: np.ndarray, labelled: bool = True) -> Pool:
        return Pool(self.x.iloc[idx], self.y[idx] if labelled else None, cat_features=self.cats)


def _split(frame: pd.DataFrame, target: str, features: list[str], task: Task | None) -> tuple[Task, _Split]:
    """The task and the seeded 80/20 split of the rows that have a target value."""
    data = frame[frame[target].notna()]
    task = checked_task(data[target], task)
    if len(data) < 10:
        raise TrainingError(f"only {len(data)} rows have a value for {target!r}; at least 10 are needed.")
    cats = categorical_features(data, features)
    y = data[target].to_numpy()
    if task != "regression":
        y = y.astype(str)
    order = np.random.default_rng(0).permutation(len(data))
    n_holdout = int(len(data) * HOLDOUT_FRACTION) if len(data) >= 50 else 0
    return task, _Split(feature_frame(data, features, cats), y, cats, order[n_holdout:], order[:n_holdout])


def _fit(model: CatBoost, split: _Split, params: TrainingParams, callbacks: list[IterationReporter]) -> None:
    """Fit on the training rows; with early stopping, the holdout picks the number of trees.

    The held-out split then influences the model through one integer (the best iteration), so its
    metrics are slightly optimistic; bench/training.py measures both parameter sets on rows that neither
    training saw. A separate validation split would cost the model 10-15 % of its rows, which measured
    worse than that small optimism on 1,300-row tables."""
    if not params.early_stopping_rounds or len(split.test_idx) == 0:
        model.fit(split.pool(split.train_idx), callbacks=callbacks or None)
        return
    eval_idx = split.test_idx
    if isinstance(model, CatBoostClassifier):  # CatBoost refuses an eval label it never trained on
        eval_idx = eval_idx[np.isin(split.y[eval_idx], split.y[split.train_idx])]
    model.fit(split.pool(split.train_idx), eval_set=split.pool(eval_idx), use_best_model=True,
              early_stopping_rounds=params.early_stopping_rounds, callbacks=callbacks or None)


def class_order(y: np.ndarray, target: str, positive_class: str | None) -> list[str]:
    """A binary target's two classes as CatBoost's `class_names`: the positive class (the plan's, else the
    rule's, analysis.datasets.default_positive_class) second, so the raw scores are its log-odds."""
    classes = sorted({str(v) for v in y})
    positive = (datasets.default_positive_class(classes) if positive_class is None
                else datasets.matching_class(classes, positive_class))
    if positive is None:
        raise TrainingError(f"positive_class {positive_class!r} is not a class of {target!r} ({classes}).")
    return [next(c for c in classes if c != positive), positive]


def _model(task: Task, split: _Split, target: str, kwargs: dict[str, Any], positive_class: str | None) -> CatBoost:
    if task == "regression":
        return CatBoostRegressor(**kwargs)
    if task == "multiclass":
        return CatBoostClassifier(**kwargs, loss_function="MultiClass")
    # CatBoost's own mechanism fixes the class order: class_names[1] is the class Logloss scores
    return CatBoostClassifier(**kwargs, loss_function="Logloss",
                              class_names=class_order(split.y, target, positive_class))


def train(frame: pd.DataFrame, target: str, features: list[str], thread_count: int,
          params: TrainingParams = PARAMS, task: Task | None = None,
          positive_class: str | None = None, on_iteration: OnIteration | None = None) -> tuple[CatBoost, ModelMeta]:
    """Fit on a seeded 80% split (early-stopped on the other 20%) and measure on that held-out 20%. `task` and
    `positive_class` are the analysis plan's; without them (a default target's warm-up training, tests) the
    rules decide (analysis.datasets.task_of, default_positive_class). `on_iteration` hears how many trees
    are built while it trains (IterationReporter)."""
    task, split = _split(frame, target, features, task)
    kwargs = catboost_params(params, len(features), thread_count)
    model = _model(task, split, target, kwargs, positive_class)
    started = time.perf_counter()
    callbacks = [IterationReporter(on_iteration, params.iterations)] if on_iteration is not None else []
    try:
        _fit(model, split, params, callbacks)
    except CatBoostError as exc:  # the data cannot be modelled: a TrainingError is failed once, never retried
        raise TrainingError(f"CatBoost cannot train a model of {target!r}: {exc}") from exc
    seconds = time.perf_counter() - started
    classes = [str(c) for c in model.classes_] if task != "regression" else None
    meta = ModelMeta(
        task=task,
        features=features,
        cat_features=split.cats,
        trained_rows=len(split.train_idx),
        metrics=Metrics.model_validate(
            _metrics(task, model, split.pool(split.test_idx, labelled=False), split.y[split.test_idx])),
        classes=classes,
        leaks=data_checks.leaks(split.x, split.y, split.cats, task, classes),
        training_range=data_checks.training_range(split.x.iloc[split.train_idx], split.cats),
        params={**asdict(params), "border_count": kwargs["border_count"], "thread_count": thread_count},
        trees=int(model.tree_count_),
        training_seconds=round(seconds, 4),
        trained_at=time.time(),
    )
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




def from_bytes(blob: bytes, meta: ModelMeta) -> CatBoost:
    """A model saved by `to_bytes`, of the class its task needs."""
    model = CatBoostRegressor() if meta.task == "regression" else CatBoostClassifier()
    model.load_model(blob=blob)
    return model
