"""Which SHAP engine explains a model, and the SHAP pass itself.

A model with leaf tables (explain.treeshap) is explained by CatBoost's leaf indexing plus a gather; any other
model by CatBoost's native ShapValues. The tables are built once, right after training, and checked against
ShapValues on a sample of the training rows before they are kept: a model whose tables could not be built
(`UnsupportedModel`) or disagree is explained natively, and the note says why."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from catboost import CatBoost, Pool

from explain.treeshap import LeafTables, UnsupportedModel, build_tables, explain

LEAF_TABLE = "leaf_table"
NATIVE = "native"
CHECK_ROWS = 8  # training rows on which new tables are compared with ShapValues (about 5 ms each natively)
TOLERANCE = 1e-9  # relative to the largest |value| of those rows (absolute below 1)


@dataclass(frozen=True)
class Prepared:
    """The outcome of preparing a model's tables: the tables, or None and why not."""

    tables: LeafTables | None
    note: str


def prepare_tables(model: CatBoost, sample: pd.DataFrame, cat_features: list[str]) -> Prepared:
    """Build `model`'s leaf tables and check them against ShapValues on the first CHECK_ROWS of `sample`
    (the model's input frame). Single-threaded: it runs in a work horse that has one thread for a job."""
    started = time.perf_counter()
    try:
        tables = build_tables(model)
    except UnsupportedModel as exc:
        return Prepared(None, f"native ShapValues: {exc}")
    built = time.perf_counter() - started
    pool = Pool(sample.iloc[:CHECK_ROWS], cat_features=cat_features)
    native = model.get_feature_importance(data=pool, type="ShapValues", thread_count=1)
    mine, _ = explain(model, tables, pool, thread_count=1)
    difference = float(np.max(np.abs(native - mine))) if native.shape == mine.shape else float("inf")
    if not difference <= TOLERANCE * max(1.0, float(np.max(np.abs(native)))):  # NaN fails too
        return Prepared(None, f"native ShapValues: the leaf tables differed by {difference:.3g} on "
                              f"{pool.num_row()} training rows")
    return Prepared(tables, f"leaf tables built in {built:.3f} s, equal to ShapValues on {pool.num_row()} "
                            f"training rows (largest difference {difference:.1e})")


def shap_matrix(model: CatBoost, tables: LeafTables | None, x: pd.DataFrame, cat_features: list[str],
                thread_count: int, batch_size: int) -> tuple[np.ndarray, np.ndarray, str]:
    """SHAP values and raw predictions of the rows of `x`, batch by batch, from one Pool per batch, and the
    engine that computed them (LEAF_TABLE or NATIVE).

    Returns (shap, raw, engine): shap is (rows, features+1) or (rows, classes, features+1), filled in place
    (no concatenation, so the peak is the matrix plus one batch); raw is (rows,) or (rows, classes)."""
    shap: np.ndarray | None = None
    raw: np.ndarray | None = None
    for start in range(0, len(x), batch_size):
        pool = Pool(x.iloc[start:start + batch_size], cat_features=cat_features)
        if tables is not None:
            part, scores = tables.explain(model.calc_leaf_indexes(pool, thread_count=thread_count))
        else:
            part = model.get_feature_importance(data=pool, type="ShapValues", thread_count=thread_count)
            scores = np.asarray(model.predict(pool, prediction_type="RawFormulaVal", thread_count=thread_count))
        if shap is None or raw is None:
            shap = np.empty((len(x), *part.shape[1:]), dtype=part.dtype)
            raw = np.empty((len(x), *scores.shape[1:]), dtype=scores.dtype)
        shap[start:start + len(part)] = part
        raw[start:start + len(scores)] = scores
        del part, pool
    assert shap is not None and raw is not None
    return shap, raw, LEAF_TABLE if tables is not None else NATIVE


@dataclass(frozen=True)
class DatasetShap:
    """SHAP values and raw predictions of every row of one dataset version under one model, computed once
    (a worker parent does it for the horses it forks: worker.kept_models). Explaining a row does not depend
    on the other rows, so a selection's rows taken from here are the values `shap_matrix` would compute."""

    version: str
    index: pd.Index  # the dataset frame's row labels, in the order of `shap` and `raw`
    shap: np.ndarray
    raw: np.ndarray

    def rows(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
        """The values of the rows of `x` (a selection of this dataset's rows, by label), or None when a label
        is not a row of the dataset."""
        positions = self.index.get_indexer(x.index)
        if len(positions) != len(x) or (positions < 0).any():
            return None
        if len(positions) == len(self.index) and np.array_equal(positions, np.arange(len(positions))):
            return _read_only(self.shap), _read_only(self.raw)  # every row in order: no copy (100 MB at 100,000 rows)
        return self.shap[positions], self.raw[positions]


def _read_only(values: np.ndarray) -> np.ndarray:
    """A view of kept values that cannot be written through: they serve every later analysis too."""
    view = values.view()
    view.flags.writeable = False
    return view


def dataset_shap(model: CatBoost, tables: LeafTables, frame: pd.DataFrame, version: str, x: pd.DataFrame,
                 cat_features: list[str], batch_size: int) -> DatasetShap:
    """Every row's SHAP values from the leaf tables, strictly single-threaded (thread_count=1 on the Pool and
    the leaf indexing: CatBoost then starts no thread, so a worker parent may call it before it forks).
    `x` is the model's input frame of `frame`."""
    shap: np.ndarray | None = None
    raw: np.ndarray | None = None
    for start in range(0, len(x), batch_size):
        pool = Pool(x.iloc[start:start + batch_size], cat_features=cat_features, thread_count=1)
        part, scores = tables.explain(model.calc_leaf_indexes(pool, thread_count=1))
        if shap is None or raw is None:
            shap = np.empty((len(x), *part.shape[1:]), dtype=part.dtype)
            raw = np.empty((len(x), *scores.shape[1:]), dtype=scores.dtype)
        shap[start:start + len(part)] = part
        raw[start:start + len(scores)] = scores
    assert shap is not None and raw is not None
    return DatasetShap(version, frame.index, shap, raw)
