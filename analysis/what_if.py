"""What-if scenarios on rows: check a scenario against the dataset, apply it, and say what it changed.

Pure pandas, shared by the web (which refuses a bad scenario before enqueueing: unknown column, a column
that is no feature of the model, arithmetic on a categorical column, a value of the wrong type, a scenario
that changes no value of the selected rows; a column excluded or dropped from the features,
analysis.features, is no feature) and by analysis.what_if, which predicts the changed rows.

What-if scenarios (analysis_type "what_if"): the explained rows changed as each scenario says, predicted
and explained again with the same model (exact TreeSHAP, explain.engine), compared with the rows as they are.

On the raw scale (a regression's prediction, a binary target's log-odds) a row's change of prediction is
exactly the sum of its per-feature SHAP changes (the base value is the same before and after), so the
per-feature change says through which features the scenario moves the prediction; a binary row also gets
its change of probability."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis import data_checks, wording
from analysis.dataset_meta import DatasetMeta
from analysis.features import NEAR_EMPTY_SHARE, FeatureChoice, choose_features, feature_frame
from analysis.labels import shown_name
from analysis.model_meta import ModelMeta, TrainingRange
from analysis.request_parts import Scenario
from common.errors import InvalidRequest, UnknownColumn, case_hint, shown


class InvalidScenario(InvalidRequest):
    code = "invalid_scenario"


class NoChange(InvalidScenario):
    code = "scenario_changes_nothing"


def _not_a_feature(column: str, choice: FeatureChoice, exclude: Sequence[str]) -> str:
    """Why `column`, a column of the dataset, is no feature of the model of `target`."""
    if column in exclude:
        return "the request's exclude_columns excludes it; remove it from exclude_columns or change a feature"
    if column in choice.constant:
        return "it was dropped from the features as a constant column (a single value); change a feature"
    if column in choice.near_empty:
        return (f"it was dropped from the features as a near-empty column (missing in more than "
                f"{NEAR_EMPTY_SHARE:.0%} of the rows); change a feature")
    return "it is the target, an id or a column the dataset excludes; change a feature instead"


def _check_columns(scenario: Scenario, meta: DatasetMeta, target: str, exclude: Sequence[str]) -> None:
    types = meta.column_types()
    choice = choose_features(meta, target, exclude)  # the model's very features (analysis.features)
    features = set(choice.features)
    where = f"scenario {shown(scenario.name)}"
    for column in scenario.columns():
        if column not in types:
            raise UnknownColumn(f"{where} names unknown column {shown(column)}.{case_hint(column, types)}",
                                details={"scenario": shown(scenario.name, quoted=False),
                                         "column": shown(column, quoted=False)})
        if column not in features:
            raise InvalidScenario(f"{where} changes {shown(column)}, which is not a feature of the model of "
                                  f"{shown(target)}: {_not_a_feature(column, choice, exclude)}.")
    for column in [*scenario.add, *scenario.multiply]:
        if types[column] != "numeric":
            raise InvalidScenario(f"{where}: {shown(column)} is a {types[column]} column, so it cannot be added to "
                                  "or multiplied; use set with one of its values.")
    for column, value in scenario.set.items():
        numeric = types[column] == "numeric"
        if value is not None and numeric != isinstance(value, float):
            wanted = "a number" if numeric else "a string (one of its values)"
            raise InvalidScenario(f"{where} sets {types[column]} column {shown(column)} to {shown(value)}; "
                                  f"give it {wanted}, or null for missing.")


def _numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("float64")


def apply(rows: pd.DataFrame, scenario: Scenario, meta: DatasetMeta) -> pd.DataFrame:
    """A copy of `rows` with the scenario's changes (numeric columns of `data` rows are read as numbers,
    as the model reads them: a value that is no number is missing)."""
    types = meta.column_types()
    changed = rows.copy()
    for column, value in scenario.set.items():
        if types[column] == "numeric":
            changed[column] = np.full(len(rows), np.nan if value is None else float(value))
        else:
            changed[column] = pd.Series([value] * len(rows), index=rows.index, dtype=object)
    for column, number in scenario.add.items():
        changed[column] = _numbers(rows[column]) + number
    for column, number in scenario.multiply.items():
        changed[column] = _numbers(rows[column]) * number
    return changed


def _as_the_model_reads(series: pd.Series) -> np.ndarray:
    """A categorical column's values as the model reads them (analysis.features.feature_frame): strings,
    missing as "". A CSV's True and a scenario's "True" are one value, as are a `data` row's 5 and "5"."""
    return series.astype(object).where(series.notna(), "").astype(str).to_numpy()


def _column_changed(rows: pd.DataFrame, changed: pd.DataFrame, column: str, numeric: bool) -> np.ndarray:
    """Which rows have another value of `column` in `changed`, as the model reads it (a missing value that
    stays missing is unchanged)."""
    if not numeric:
        return _as_the_model_reads(rows[column]) != _as_the_model_reads(changed[column])
    old, new = _numbers(rows[column]).to_numpy(), _numbers(changed[column]).to_numpy()
    gone, now = np.isnan(old), np.isnan(new)
    with np.errstate(invalid="ignore"):
        return (gone != now) | (~gone & ~now & (old != new))


def changed_columns(rows: pd.DataFrame, changed: pd.DataFrame, scenario: Scenario,
                    meta: DatasetMeta) -> dict[str, np.ndarray]:
    """Per column of the scenario, which rows it changed there (_column_changed)."""
    types = meta.column_types()
    return {column: _column_changed(rows, changed, column, types[column] == "numeric")
            for column in scenario.columns()}


def rows_changed_in(masks: dict[str, np.ndarray], rows: int) -> np.ndarray:
    """The rows changed in any column of `masks` (changed_columns)."""
    differs = np.zeros(rows, dtype=bool)
    for mask in masks.values():
        differs |= mask
    return differs


def changed_rows(rows: pd.DataFrame, changed: pd.DataFrame, scenario: Scenario, meta: DatasetMeta) -> np.ndarray:
    """Which rows the scenario changed, in any of its columns."""
    return rows_changed_in(changed_columns(rows, changed, scenario, meta), len(rows))


def check(rows: pd.DataFrame, meta: DatasetMeta, target: str, scenarios: list[Scenario],
          exclude: Sequence[str] = ()) -> None:
    """Refuse (400) a scenario that names a wrong column or value, or changes no value of `rows`;
    `exclude`: the request's exclude_columns."""
    for scenario in scenarios:
        _check_columns(scenario, meta, target, exclude)
        if not changed_rows(rows, apply(rows, scenario, meta), scenario, meta).any():
            raise NoChange(f"scenario {shown(scenario.name)} ({shown(scenario.describe(), quoted=False)}) changes no "
                           f"value of the {len(rows)} selected rows; change it or remove it.",
                           details={"scenario": shown(scenario.name, quoted=False)})


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


def run(rows: pd.DataFrame, meta: DatasetMeta, model_meta: ModelMeta, scenarios: list[Scenario], explain: Explain,
        float_dtype: str = "float64") -> list[Outcome]:
    """Apply each scenario to `rows` (the explained rows, as selected) and explain the changed rows."""
    outcomes = []
    for scenario in scenarios:
        changed = apply(rows, scenario, meta)
        x = feature_frame(changed, model_meta.features, model_meta.cat_features, dtype=float_dtype)
        values, raw = explain(x)
        moved = changed_columns(rows, changed, scenario, meta)  # once: for the count and the warnings
        outcomes.append(Outcome(scenario, values, raw, rows_changed_in(moved, len(rows)),
                                range_warnings(scenario, moved, x, model_meta.training_range)))
    return outcomes


def range_warnings(scenario: Scenario, moved: dict[str, np.ndarray], x: pd.DataFrame,
                   seen: TrainingRange | None) -> list[str]:
    """The values the scenario gives outside the model's training range (analysis.data_checks, as for `data`
    rows): numbers beyond it, categories the model never saw. They are predicted all the same. Only the
    values the scenario changed are counted: a held-out or `data` row already beyond the range is not the
    scenario's doing (`moved`: per column, the rows the scenario changed there). A model stored before it
    kept its training range (`seen` None) is not checked."""
    columns = [c for c in scenario.columns() if c in x.columns]
    if seen is None or not columns:
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
        if column in seen.numeric:
            low, high = seen.numeric[column]
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
    `labels`, analysis.labels)."""
    scale = "log-odds of" if binary else "predicted"
    sentences = []
    for item in items:
        shifts = sorted(item["mean_shap_change"].items(), key=lambda kv: -abs(kv[1]))[:SUMMARY_FEATURES]
        through = ", ".join(f"{shown_name(labels, name)} {wording.signed(value)}" for name, value in shifts)
        probability = (f" (mean probability {wording.signed(item['mean_probability_change'])})" if binary else "")
        changed = f"{wording.number(item['rows_changed'])} of {wording.number(rows)} rows"
        sentences.append(f"Scenario '{item['name']}' changes {changed} "
                         f"and moves the mean {scale} {target} by {wording.signed(item['mean_change'])}{probability}, "
                         f"mostly through {through}.")
    return " ".join(sentences)
