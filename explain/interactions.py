"""SHAP interaction values of the explained rows (`analysis_type: "interactions"`): the exact Shapley
interaction index of the model's trees, computed from the service's per-leaf tables (explain.interaction_tables,
whose row sums are checked against CatBoost's ShapValues), or from CatBoost's `ShapInteractionValues` when the
tables cannot follow the model (`native_with_main_effects`).

CatBoost answers, per row, a (F+1) x (F+1) matrix (per class for multiclass: (rows, classes, F+1, F+1)).
Its first F rows and columns, M, are the interaction values: M[i, i] is feature i's main effect,
M[i, j] = M[j, i] half of the interaction of features i and j (SHAP splits it equally between the two), and
row i sums to feature i's ordinary SHAP value. The last row and column are NOT the expected value (measured
with catboost 1.2: 0 for classifiers, the model's bias in the off-diagonal cells for regression), so they
are dropped; the base value is the SHAP pass's. CatBoost's own interaction values do not always add up to its
own SHAP values (2e-05 apart on some models, explain.interaction_tables), so on the native path the main
effects are completed from the SHAP values (the index's definition: M[i, i] = phi_i - sum over j != i of
M[i, j]) and the result never fails because of CatBoost's inconsistency. `additivity_gap` still holds M to the
SHAP values and the raw prediction of the same rows, batch by batch: the job refuses a result of the service's
own tables that disagrees (a bug, never reported).

A pair's reported value is M[i, j] + M[j, i], the whole interaction, so for each row
base value + sum(main effects) + sum over pairs (i < j) of pair values = raw prediction.
Cost: rows x F^2 values, hence the row cap INTERACTION_MAX_ROWS (analysis.selection.capped); the rows are
read in batches of BATCH_CELLS values, twice (the top pairs are known only after every row), so memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from catboost import Pool

from analysis import wording
from analysis.labels import shown_name
from analysis.result import Result
from explain import interaction_tables
from explain.training import TrainedModel

TOP_PAIRS = 10  # feature pairs whose per-row values the result carries
TOLERANCE = 1e-9  # relative to the largest |SHAP value| (absolute below 1), as explain.engine's check
BATCH_CELLS = 4_000_000  # cells of one CatBoost call's answer (32 MB of float64): rows per batch follow


class InteractionsDisagree(ValueError):
    """The service's interaction values do not add up to the SHAP values of the same rows: never reported.
    A ValueError, so the job fails at once instead of being retried (it would disagree again)."""


class _Source:
    """The interaction values of the rows of `x`, batch by batch: from the leaf tables when they equal
    CatBoost's ShapInteractionValues on a sample row (explain.interaction_tables), else natively."""

    def __init__(self, trained: TrainedModel, x: pd.DataFrame, chosen: np.ndarray | None, classes: int,
                 shap_values: np.ndarray, thread_count: int) -> None:
        self.trained, self.x, self.chosen, self.thread_count = trained, x, chosen, thread_count
        self.shap_values = shap_values
        prepared = trained.interactions or interaction_tables.prepare(trained.model, x, trained.meta.cat_features)
        self.tables: interaction_tables.InteractionTables | None = prepared[0]
        self.engine: str = prepared[1]
        cells = (x.shape[1] + 1) ** 2 * (classes if self.tables is None else 1)
        self.step = max(1, BATCH_CELLS // cells)

    def batches(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, (rows, F, F)) per batch of at most BATCH_CELLS values."""
        model, count = self.trained.model, self.x.shape[1]
        for start in range(0, len(self.x), self.step):
            pool = Pool(self.x.iloc[start:start + self.step], cat_features=self.trained.meta.cat_features)
            chosen = None if self.chosen is None else self.chosen[start:start + pool.num_row()]
            if self.tables is not None:
                yield start, self.tables.explain(model.calc_leaf_indexes(pool, thread_count=self.thread_count), chosen)
                continue
            part = np.asarray(model.get_feature_importance(data=pool, type="ShapInteractionValues",
                                                           thread_count=self.thread_count))
            if part.ndim == 4:  # multiclass: (rows, classes, F+1, F+1)
                assert chosen is not None
                part = part[np.arange(len(part)), chosen]
            yield start, native_with_main_effects(part[:, :count, :count], self.shap_values[start:start + len(part)])


def native_with_main_effects(matrix: np.ndarray, shap_values: np.ndarray) -> np.ndarray:
    """CatBoost's interaction values with each main effect recomputed from the row's SHAP values, so each row
    sums to them by definition (module docstring); the pairs are CatBoost's."""
    count = matrix.shape[1]
    diagonal = np.arange(count)
    off = matrix.sum(axis=2) - matrix[:, diagonal, diagonal]
    matrix[:, diagonal, diagonal] = shap_values - off
    return matrix


def additivity_gap(matrix: np.ndarray, shap_values: np.ndarray, base: np.ndarray, raw: np.ndarray) -> float:
    """The largest difference between each row sum of `matrix` and the row's SHAP value of that feature,
    and between base value + the whole matrix and the raw prediction, relative to max(1, largest |SHAP
    value|). `base` holds each row's base value (its explained class's for multiclass)."""
    gaps = [np.abs(matrix.sum(axis=2) - shap_values).max(initial=0.0),
            np.abs(base + matrix.sum(axis=(1, 2)) - raw).max(initial=0.0)]
    scale = max(1.0, float(np.abs(shap_values).max(initial=0.0)))
    return float(max(gaps)) / scale  # NaN stays NaN: the caller's `<=` fails on it


@dataclass(frozen=True)
class Interactions:
    """What the result reports: the top pairs with their per-row values, every feature's main effects."""

    pairs: list[dict[str, Any]]
    main_effects: list[dict[str, Any]]
    rows: int

    def as_result(self) -> dict[str, Any]:
        return {"rows": self.rows, "pairs": self.pairs, "main_effects": self.main_effects}


def _upper(count: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(count, k=1)


def _pair_values(matrix: np.ndarray, upper: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(rows, pairs): M[i, j] + M[j, i] of each pair i < j, the pair's whole interaction."""
    return matrix[:, upper[0], upper[1]] + matrix[:, upper[1], upper[0]]


def summarize(features: list[str], source: Any, rows: int, check: Any = None, top: int = TOP_PAIRS) -> Interactions:
    """The `top` pairs by mean |pair value| (ties in feature order) and every feature's main effects, most
    important first, from the batches of `source` (read twice: the top pairs are known only after every
    row, and a whole (rows, F, F) matrix of a wide table would not fit); `check` sees every batch first.
    Per-row values follow the rows of the batches (the order of `results`)."""
    count = len(features)
    upper = _upper(count)
    strength = np.zeros(len(upper[0]))
    mains = np.empty((rows, count))
    for start, matrix in source():
        if check is not None:
            check(start, matrix)
        strength += np.abs(_pair_values(matrix, upper)).sum(axis=0)
        mains[start:start + len(matrix)] = matrix[:, np.arange(count), np.arange(count)]
    strength /= max(rows, 1)
    best = np.argsort(-strength, kind="stable")[:top]
    values = np.empty((len(best), rows))
    if len(best):
        for start, matrix in source():
            values[:, start:start + len(matrix)] = _pair_values(matrix, (upper[0][best], upper[1][best])).T
    pairs = [{"feature": features[upper[0][k]], "with": features[upper[1][k]],
              "mean_abs_interaction": float(strength[k]), "values": values[n]} for n, k in enumerate(best)]
    main_strength = np.abs(mains).mean(axis=0) if rows else np.zeros(count)
    main_effects = [{"feature": features[i], "mean_abs_main_effect": float(main_strength[i]),
                     "values": np.ascontiguousarray(mains[:, i])} for i in np.argsort(-main_strength, kind="stable")]
    return Interactions(pairs, main_effects, rows)


def explain(trained: TrainedModel, x: pd.DataFrame, shap_values: np.ndarray, base_value: Any, raw: np.ndarray,
            explained_class: list[Any] | None, thread_count: int) -> tuple[Interactions, str]:
    """The interactions of the rows of `x`, each batch checked against the rows' SHAP values, base value and
    raw scores (of each row's explained class for multiclass: `base_value` is then an object by class)
    before anything is reported; and the engine that computed them (leaf_table, or native and why)."""
    chosen, classes = None, 1
    if trained.meta.task != "multiclass":
        base = np.full(len(x), float(base_value))
    else:
        position = {cls: k for k, cls in enumerate(trained.meta.class_names)}
        chosen, classes = np.array([position[cls] for cls in explained_class or []], dtype=np.intp), len(position)
        base = np.array([base_value[cls] for cls in explained_class or []], dtype=float)
    source = _Source(trained, x, chosen, classes, shap_values, thread_count)

    def check(start: int, matrix: np.ndarray) -> None:
        end = start + len(matrix)
        gap = additivity_gap(matrix, shap_values[start:end], base[start:end], raw[start:end])
        if not gap <= TOLERANCE:
            raise InteractionsDisagree(f"the interaction values differ from the SHAP values of the same rows by "
                                       f"{gap:.3g} (relative; engine {source.engine}); they are not reported.")

    return summarize(list(x.columns), source.batches, len(x), check), source.engine


def sentence(interactions: Interactions, name: Any = str) -> str:
    """The summary's words on the strongest pair (`name` turns a column into the words shown for it)."""
    if not interactions.pairs or interactions.pairs[0]["mean_abs_interaction"] == 0:
        return "No pair of features interacts in the model."
    first = interactions.pairs[0]
    return (f"The strongest interaction is between {name(first['feature'])} and {name(first['with'])} "
            f"(mean absolute interaction {wording.number(first['mean_abs_interaction'])}).")


def add_to(result: Result, trained: TrainedModel, x: pd.DataFrame, shap_values: np.ndarray,
           raw: np.ndarray, explained_class: list[Any] | None, labels: dict[str, str], thread_count: int) -> None:
    """Put the `interactions` field in an analysis's result and the strongest pair in its summary. The rows
    are those of `results`, in the same order (an interactions analysis is never reordered)."""
    found, engine = explain(trained, x, shap_values, result.base_value, raw, explained_class, thread_count)
    result.interactions = found.as_result() | {"engine": engine}
    result.summary = f"{result.summary} {sentence(found, partial(shown_name, labels))}"
