"""Effect shapes from the model's own SHAP values (analysis.effects) and the summary's words about them
(analysis.wording): known shapes are recognised, a U-shaped feature gets no direction, and the summary's
claims are associational and only for strong, monotone effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import datasets, effects, wording
from analysis.request import AnalyzeRequest
from explain.run import analyze
from explain.training import TrainedModel, train

RNG = np.random.default_rng(4)
X = RNG.normal(size=2_000)
NOISE = RNG.normal(scale=0.05, size=2_000)


@pytest.mark.parametrize(("shap", "shape", "high_at"), [
    (2 * X + NOISE, "increasing", None),
    (-X + NOISE, "decreasing", None),
    ((X > 0.3) * 1.0 + NOISE, "increasing", None),  # a step is monotone
    (X**2 + NOISE, "non_monotonic", "ends"),  # U
    (-(X**2) + NOISE, "non_monotonic", "middle"),  # inverted U
    (RNG.normal(size=2_000), "unclear", None),  # noise: the value explains nothing
])
def test_known_shapes_are_recognised(shap: np.ndarray, shape: str, high_at: str | None) -> None:
    found = effects.numeric(X, shap)
    assert (found.shape, found.high_at) == (shape, high_at)
    assert found.to_json()["statistic"] == "monotone_r2"


def test_too_few_rows_are_unclear_and_categories_rank_by_mean_shap() -> None:
    assert effects.numeric(X[:29], 2 * X[:29]).shape == "unclear"
    assert effects.numeric(X[:30], 2 * X[:30]).shape == "increasing"
    column = pd.Series(["a", "b", "c", "d"] * 10)
    found = effects.categorical(column, column.map({"a": 2.0, "b": -1.0, "c": 0.5, "d": -3.0}).to_numpy())
    assert found.to_json() == {"shape": "categorical", "highest": ["a", "c"], "lowest": ["d", "b"]}


def test_the_summary_states_directions_only_for_strong_monotone_effects_in_associational_words() -> None:
    increasing = effects.Effect("increasing", 0.95)
    assert wording.effect_phrase("Income", increasing, 0.4, "predicted y") == (
        "in this model, higher Income goes with a higher predicted y")
    assert wording.effect_phrase("Income", increasing, 0.03, "predicted y") is None  # 3 % of the impact
    assert wording.effect_phrase("x", effects.Effect("unclear", 0.1), 0.5, "predicted y") is None
    u = wording.effect_phrase("x", effects.Effect("non_monotonic", 0.2, high_at="ends"), 0.5, "predicted y")
    assert u is not None and "higher" not in u and "both low and high" in u


def test_a_u_shaped_feature_gets_no_direction_in_the_summary() -> None:
    """y grows with x01²: the model's effect of x01 is non-monotonic, highest at both ends, and the summary
    says so instead of "higher x01 tends to raise y" (what a correlation of 0.015 used to make it say)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(3_000)], "x01": rng.uniform(-1, 1, 3_000),
                          "x02": rng.normal(size=3_000)})
    frame["y"] = frame.x01**2 + 0.1 * frame.x02 + rng.normal(scale=0.02, size=3_000)
    meta, frame = datasets.describe(datasets.to_csv_bytes(frame), datasets.DatasetOptions(id_columns=("id",)),
                                    name="u", max_rows=10_000)
    model, model_meta = train(frame, "y", ["x01", "x02"], thread_count=1)
    result = analyze(frame, meta, AnalyzeRequest(dataset="u", target_variable="y"), "y",
                     TrainedModel("u", model, model_meta), thread_count=1, batch_size=500, max_rows=10_000)
    x01 = next(item for item in result.feature_importance if item["feature"] == "x01")
    assert x01["effect"]["shape"] == "non_monotonic" and x01["effect"]["high_at"] == "ends"
    assert "higher x01" not in result.summary and "tends to" not in result.summary
    assert "In this model, x01 does not act in one direction" in result.summary


@pytest.mark.parametrize("column", [
    np.repeat([3.0, -1.0, 0.0, -0.0, 2.5], 40),  # ties, and -0.0 equal to 0.0 as a comparison sees them
    RNG.integers(-50, 50, 5_000).astype(float),  # few distinct values: ranked, then a radix sort
    RNG.normal(size=70_000),  # more than 65,536 distinct values: numpy's own stable sort
    np.array([np.inf, 1.0, -np.inf, 1.0, 7.0]),
    np.array([], dtype=float),
])
def test_stable_order_is_numpys_stable_argsort(column: np.ndarray) -> None:
    shuffled = RNG.permutation(column)
    assert np.array_equal(effects.stable_order(shuffled), np.argsort(shuffled, kind="stable"))
