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


def _feature_at_a_time(column: np.ndarray, shap: np.ndarray) -> effects.Effect:
    """The reference: one feature's effect computed on its own, bin by bin, as analysis.effects did before its
    features were computed together (numeric_block must give the same Effect, bit for bit)."""
    ok = np.isfinite(column) & np.isfinite(shap)
    count = int(ok.sum())
    if count < effects.MIN_ROWS:
        return effects.Effect("unclear")
    column, shap = column[ok], shap[ok]
    groups = np.array_split(shap[np.argsort(column, kind="stable")], min(effects.BINS, count))
    means = np.array([g.mean() for g in groups])
    sizes = np.array([len(g) for g in groups], dtype=float)
    mean = shap.mean()
    total = float(((shap - mean) ** 2).sum())
    if total <= 0:
        return effects.Effect("unclear")
    between = float((sizes * (means - mean) ** 2).sum())
    kept = {}
    for shape, sign in (("increasing", 1), ("decreasing", -1)):
        blocks: list[list[float]] = []  # pool adjacent violators, block by block: [mean, weight, count]
        for value, weight in zip(sign * means, sizes, strict=True):
            blocks.append([float(value), float(weight), 1])
            while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
                last = blocks.pop()
                merged = blocks[-1][1] + last[1]
                blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + last[0] * last[1]) / merged, merged,
                              blocks[-1][2] + last[2]]
        fit = np.repeat([b[0] for b in blocks], [int(b[2]) for b in blocks]) * sign
        kept[shape] = between - float((sizes * (means - fit) ** 2).sum())
    best = max(kept, key=lambda shape: kept[shape])
    share = max(kept[best], 0.0) / total
    if between / total < effects.MIN_EXPLAINED:
        return effects.Effect("unclear", share)
    if share >= effects.MONOTONE_SHARE * between / total:
        return effects.Effect(best, share)  # type: ignore[arg-type]
    low, middle, high = (float(part.mean()) for part in np.array_split(means, 3))
    high_at = "ends" if low > middle and high > middle else ("low", "middle", "high")[int(np.argmax([low, middle,
                                                                                                   high]))]
    return effects.Effect("non_monotonic", share, high_at=high_at)  # type: ignore[arg-type]


@pytest.mark.parametrize("rows", [25, 30, 57, 1_650, 9_000])
@pytest.mark.parametrize("decimals", [0, 2, None])  # None: continuous values (more than 65,536 distinct)
def test_features_computed_together_match_each_computed_alone_bit_for_bit(rows: int, decimals: int | None) -> None:
    rng = np.random.default_rng(rows)
    features = 40
    columns = rng.lognormal(2, 1, (features, rows))
    columns = columns if decimals is None else np.round(columns, decimals)
    kind = rng.integers(0, 4, features)[:, None]
    shap = np.where(kind == 0, 0.1 * columns, np.where(kind == 1, -np.sqrt(columns),
                    np.where(kind == 2, (columns - columns.mean()) ** 2, 0.0)))
    shap = shap + rng.normal(scale=rng.uniform(0, 2), size=(features, rows))
    columns[rng.random((features, rows)) < rng.uniform(0, 0.3, (features, 1))] = np.nan  # missing values
    shap[rng.random((features, rows)) < 0.01] = np.inf
    columns[3] = 0.0  # constant
    columns[4, ::2] = -0.0  # -0.0 ties with 0.0
    shap[5] = 1.5  # SHAP values all equal
    columns[6, : rows - 10] = np.nan  # too few rows with a value
    found = effects.numeric_block(columns, shap)
    for column, values, effect in zip(columns, shap, found, strict=True):
        expected = _feature_at_a_time(column, values)
        assert effect == expected
        assert np.float64(effect.value or 0.0).tobytes() == np.float64(expected.value or 0.0).tobytes()
