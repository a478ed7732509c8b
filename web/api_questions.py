"""The result parts of the deeper questions, for the OpenAPI document: `comparison` (analysis_type
comparison, analysis.comparison) and `scenarios` (analysis_type what_if, analysis.what_if). Values are on
the model's raw scale: a regression's prediction, a binary target's log-odds of its second class."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Bootstrap(BaseModel):
    resamples: int = Field(description="Resamples of each cohort's rows (with replacement).")
    seed: int = Field(description="Seed of the numpy Generator: the same request gives the same intervals.")
    interval: float = Field(description="Coverage of the percentile intervals (0.95).")
    method: Literal["percentile"]


class CohortStats(BaseModel):
    name: str
    filters: list[str] = Field(description="The cohort's own filters (on top of demographic_filters).")
    rows: int
    mean_prediction: float = Field(description="Mean raw prediction of its rows (log-odds for a binary target).")
    mean_probability: float | None = Field(default=None, description="Binary: mean probability of the second class.")
    mean_shap: dict[str, float] = Field(description="Feature -> mean SHAP value over the cohort's rows.")
    mean_abs_shap: dict[str, float] = Field(description="Feature -> mean |SHAP value| over the cohort's rows.")
    positions: list[int] = Field(description="Its rows' indexes in `results` and every `shap_values` column.")


class FeatureDifference(BaseModel):
    feature: str
    difference: float = Field(description="Mean SHAP in the first cohort minus in the second.")
    interval: list[float] = Field(description="[low, high]: bootstrap interval of the difference.")
    share: float | None = Field(description="difference / the pair's difference of mean predictions (shares add "
                                "up to 1; negative when the feature pulls the other way); null when that is 0.")


class CohortPair(BaseModel):
    cohorts: list[str] = Field(description="[first, second], in the order of the request.")
    mean_prediction: list[float] = Field(description="[first, second] mean raw predictions.")
    difference: float = Field(description="first - second mean raw prediction = the sum of the features' differences.")
    interval: list[float] = Field(description="[low, high]: bootstrap interval of `difference`.")
    features: list[FeatureDifference] = Field(description="Largest |difference| first.")


class Comparison(BaseModel):
    """analysis_type comparison: each cohort, and each pair of cohorts."""

    scale: Literal["prediction", "log_odds"]
    bootstrap: Bootstrap
    cohorts: list[CohortStats]
    pairs: list[CohortPair]


class ScenarioOutcome(BaseModel):
    """analysis_type what_if: one scenario. Per-row lists and columns follow the order of `results`."""

    name: str
    set: dict[str, str | float | None]
    add: dict[str, float]
    multiply: dict[str, float]
    rows_changed: int = Field(description="Rows whose feature values the scenario changed.")
    mean_change: float = Field(description="Mean change of the raw prediction (log-odds for a binary target).")
    mean_probability_change: float | None = Field(default=None, description="Binary: mean change of probability.")
    mean_shap_change: dict[str, float] = Field(description="Feature -> mean change of its SHAP value (they add up "
                                               "to mean_change).")
    predictions: list[float | None] = Field(description="Each row's new prediction (binary: probability).")
    raw_predictions: list[float | None]
    changes: list[float | None] = Field(description="New minus old raw prediction, per row.")
    probability_changes: list[float | None] | None = Field(default=None, description="Binary, per row.")
    shap_values: dict[str, list[float | None]] = Field(description="The changed rows' SHAP values.")
    shap_change: dict[str, list[float | None]] = Field(description="New minus old SHAP value, per feature and row; "
                                                       "a row's values add up to its change.")
