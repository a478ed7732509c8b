"""What-if scenarios (analysis_type "what_if"): the explained rows changed as each scenario says, predicted
and explained again with the same model (exact TreeSHAP, explain.engine), compared with the rows as they are.

On the raw scale (a regression's prediction, a binary target's log-odds) a row's change of prediction is
exactly the sum of its per-feature SHAP changes (the base value is the same before and after), so the
per-feature change says through which features the scenario moves the prediction; a binary row also gets
its change of probability."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common import scenarios as changes
from common.errors import shown
from common.labels import shown_name
from common.request_parts import Scenario
from explain import data_checks
from explain.training import TrainedModel, feature_frame

SUMMARY_FEATURES = 3  # features the summary names per scenario

# (model input frame) -> (SHAP values (rows, features), raw predictions (rows,)): explain.engine's pass
Explain = Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Outcome:
    """One scenario's new SHAP values and raw predictions for the explained rows, and what it changed."""

    scenario: Scenario
    values: np.ndarray  # (rows, features)
    raw: np.ndarray  # (rows,)
    changed: np.ndarray  # (rows,) bool: rows whose feature values the scenario changed
    warnings: list[str]


def run(rows: pd.DataFrame, meta: dict, trained: TrainedModel, scenarios: list[Scenario], explain: Explain,
        float_dtype: str = "float64") -> list[Outcome]:
    """Apply each scenario to `rows` (the explained rows, as selected) and explain the changed rows."""
    outcomes = []
    for scenario in scenarios:
        changed = changes.apply(rows, scenario, meta)
        x = feature_frame(changed, trained.meta["features"], trained.meta["cat_features"], dtype=float_dtype)
        values, raw = explain(x)
        moved = changes.changed_columns(rows, changed, scenario, meta)  # once: for the count and the warnings
        outcomes.append(Outcome(scenario, values, raw, changes.rows_changed_in(moved, len(rows)),
                                range_warnings(scenario, moved, x, trained.meta.get("training_range"))))
    return outcomes


def range_warnings(scenario: Scenario, moved: dict[str, np.ndarray], x: pd.DataFrame,
                   seen: dict[str, Any] | None) -> list[str]:
    """The values the scenario gives outside the model's training range (explain.data_checks, as for `data`
    rows): numbers beyond it, categories the model never saw. They are predicted all the same. Only the
    values the scenario changed are counted: a held-out or `data` row already beyond the range is not the
    scenario's doing (`moved`: per column, the rows the scenario changed there). A model stored before it
    kept its training range (`seen` None) is not checked."""
    columns = [c for c in scenario.columns() if c in x.columns]
    if not seen or not columns:
        return []
    flagged = data_checks.out_of_range(x[columns], seen)
    counts: Counter[str] = Counter()
    for column in columns:
        counts[column] = sum(1 for position, names in flagged.items() if column in names and moved[column][position])
    notes = []
    for column in columns:
        if not counts[column]:
            continue
        where = f"scenario {shown(scenario.name)}: {counts[column]} rows get {shown(column)}"
        if column in seen["numeric"]:
            low, high = seen["numeric"][column]
            notes.append(f"{where} outside the model's training range [{low:g}, {high:g}]; trees predict there as "
                         "at the nearest edge")
        else:
            notes.append(f"{where} values the model never saw in training; it treats them as an unseen category")
    return notes


def _probability(raw: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-raw))


def entry(outcome: Outcome, base_values: np.ndarray, base_raw: np.ndarray, features: list[str], binary: bool,
          columns: Callable[[np.ndarray], Any]) -> dict[str, Any]:
    """The scenario's part of the result (docs/analyses.md, "What-if scenarios"); `columns` makes the per-row
    (rows, features) matrices the result's lazily encoded {feature: [one value per row]}."""
    change = outcome.raw - base_raw
    shap_change = outcome.values - base_values
    item: dict[str, Any] = {**outcome.scenario.model_dump(), "rows_changed": int(outcome.changed.sum()),
                            "mean_change": float(change.mean())}
    if binary:
        probability_change = _probability(outcome.raw) - _probability(base_raw)
        item["mean_probability_change"] = float(probability_change.mean())
    item["mean_shap_change"] = dict(zip(features, shap_change.mean(axis=0).tolist(), strict=True))
    item["predictions"] = _probability(outcome.raw) if binary else outcome.raw
    item["raw_predictions"] = outcome.raw
    item["changes"] = change
    if binary:
        item["probability_changes"] = probability_change
    item["shap_values"] = columns(outcome.values)
    item["shap_change"] = columns(shap_change)
    return item


def summary(items: list[dict[str, Any]], target: str, rows: int, binary: bool, labels: dict[str, str]) -> str:
    """Each scenario's mean change in words, and the features it acts through most (named by their
    `labels`, common.labels)."""
    scale = "log-odds of" if binary else "predicted"
    sentences = []
    for item in items:
        shifts = sorted(item["mean_shap_change"].items(), key=lambda kv: -abs(kv[1]))[:SUMMARY_FEATURES]
        through = ", ".join(f"{shown_name(labels, name)} {value:+.4g}" for name, value in shifts)
        probability = (f" (mean probability {item['mean_probability_change']:+.3f})" if binary else "")
        sentences.append(f"Scenario '{item['name']}' changes {item['rows_changed']} of {rows} rows and moves the mean "
                         f"{scale} {target} by {item['mean_change']:+.4g}{probability}, mostly through {through}.")
    return " ".join(sentences)
