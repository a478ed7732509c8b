"""What-if scenarios on rows: check a scenario against the dataset, apply it, and say what it changed.

Pure pandas, shared by the web (which refuses a bad scenario before enqueueing: unknown column, a column
that is no feature of the model, arithmetic on a categorical column, a value of the wrong type, a scenario
that changes no value of the selected rows; a column excluded or dropped from the features,
common.features, is no feature) and by explain.scenarios, which predicts the changed rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from common import datasets
from common.errors import InvalidRequest, UnknownColumn, case_hint, shown
from common.features import NEAR_EMPTY_SHARE, FeatureChoice, choose_features
from common.request_parts import Scenario


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


def _check_columns(scenario: Scenario, meta: dict, target: str, exclude: Sequence[str]) -> None:
    types = datasets.column_types(meta)
    choice = choose_features(meta, target, exclude)  # the model's very features (common.features)
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


def apply(rows: pd.DataFrame, scenario: Scenario, meta: dict) -> pd.DataFrame:
    """A copy of `rows` with the scenario's changes (numeric columns of `data` rows are read as numbers,
    as the model reads them: a value that is no number is missing)."""
    types = datasets.column_types(meta)
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
    """A categorical column's values as the model reads them (explain.training.feature_frame): strings,
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
                    meta: dict) -> dict[str, np.ndarray]:
    """Per column of the scenario, which rows it changed there (_column_changed)."""
    types = datasets.column_types(meta)
    return {column: _column_changed(rows, changed, column, types[column] == "numeric")
            for column in scenario.columns()}


def rows_changed_in(masks: dict[str, np.ndarray], rows: int) -> np.ndarray:
    """The rows changed in any column of `masks` (changed_columns)."""
    differs = np.zeros(rows, dtype=bool)
    for mask in masks.values():
        differs |= mask
    return differs


def changed_rows(rows: pd.DataFrame, changed: pd.DataFrame, scenario: Scenario, meta: dict) -> np.ndarray:
    """Which rows the scenario changed, in any of its columns."""
    return rows_changed_in(changed_columns(rows, changed, scenario, meta), len(rows))


def check(rows: pd.DataFrame, meta: dict, target: str, scenarios: list[Scenario],
          exclude: Sequence[str] = ()) -> None:
    """Refuse (400) a scenario that names a wrong column or value, or changes no value of `rows`;
    `exclude`: the request's exclude_columns."""
    for scenario in scenarios:
        _check_columns(scenario, meta, target, exclude)
        if not changed_rows(rows, apply(rows, scenario, meta), scenario, meta).any():
            raise NoChange(f"scenario {shown(scenario.name)} ({shown(scenario.describe(), quoted=False)}) changes no "
                           f"value of the {len(rows)} selected rows; change it or remove it.",
                           details={"scenario": shown(scenario.name, quoted=False)})
