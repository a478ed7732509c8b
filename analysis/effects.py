"""The shape of each feature's effect in the model, read from the model's own SHAP values (docs/summary.md,
"Effect shapes"): what the summary may say about a direction, and the `effect` of each `feature_importance`
item. It describes the model, not the world: an "increasing" effect says the model's predictions go up with
the feature's values on the explained rows, not that raising the feature would raise the target.

Numeric features. The explained rows are cut into BINS groups of equal size by the feature's value; the
mean SHAP value of each group is the effect's curve. Two shares of the SHAP values' variance are measured:
`explained`, what the curve explains (the feature's value explains its SHAP value: the rest is interactions
and noise), and `monotone_r2`, what the best increasing or decreasing fit of the curve explains (a weighted
isotonic fit, pool-adjacent-violators). The rule, first match:

- fewer than MIN_ROWS explained rows with a value, or SHAP values all equal: `unclear`;
- `explained` < MIN_EXPLAINED: `unclear` (too little of the SHAP value follows the feature's value);
- `monotone_r2` >= MONOTONE_SHARE x `explained`: `increasing` or `decreasing`;
- else `non_monotonic`, with `high_at`: where the curve is highest of the lower, middle and upper thirds
  of the values, or `ends` when both outer thirds are above the middle one.

Categorical features: the categories with the highest and the lowest mean SHAP value.
For a multiclass model the SHAP values are those of each row's explained class (its predicted class)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

MIN_ROWS = 30  # fewer explained rows with a value: the shape is `unclear`
BINS = 20  # groups of equal size along the feature's values
MIN_EXPLAINED = 0.3  # share of the SHAP variance the feature's own value must explain for any shape
MONOTONE_SHARE = 0.9  # share of that the best monotone fit must keep for `increasing` / `decreasing`
SHOWN_CATEGORIES = 3  # categories listed as highest and as lowest
STATISTIC = "monotone_r2"

Shape = Literal["increasing", "decreasing", "non_monotonic", "unclear", "categorical"]


@dataclass(frozen=True)
class Effect:
    """One feature's effect (module docstring)."""

    shape: Shape
    value: float | None = None  # monotone_r2 for a numeric feature
    high_at: Literal["low", "middle", "high", "ends"] | None = None
    highest: tuple[str, ...] = ()
    lowest: tuple[str, ...] = ()

    @property
    def directional(self) -> bool:
        return self.shape in ("increasing", "decreasing")

    def to_json(self) -> dict[str, Any]:
        if self.shape == "categorical":
            return {"shape": self.shape, "highest": list(self.highest), "lowest": list(self.lowest)}
        found: dict[str, Any] = {"shape": self.shape, "statistic": STATISTIC, "value": self.value}
        return found | ({"high_at": self.high_at} if self.high_at else {})


def effects(x: pd.DataFrame, by_feature: np.ndarray, features: list[str], cat_features: list[str]) -> dict[str, Effect]:
    """Each feature's effect from its column of `x` and its SHAP values (row i of `by_feature`, the SHAP matrix
    feature-major: analysis.explained.ShapColumns.feature_major)."""
    return {name: categorical(x.iloc[:, i], by_feature[i]) if name in cat_features
            else numeric(x.iloc[:, i].to_numpy(dtype=float), by_feature[i]) for i, name in enumerate(features)}


def numeric(column: np.ndarray, shap: np.ndarray) -> Effect:
    """The effect of a numeric feature (module docstring's rule)."""
    ok = np.isfinite(column) & np.isfinite(shap)
    count = int(ok.sum())
    if count < MIN_ROWS:
        return Effect("unclear")
    if count < len(column):  # else every value is kept, in the same order: no copy needed
        column, shap = column[ok], shap[ok]
    groups = np.array_split(shap[stable_order(column)], min(BINS, count))
    means = np.array([g.mean() for g in groups])
    sizes = np.array([len(g) for g in groups], dtype=float)
    mean = np.ascontiguousarray(shap).mean()
    total = float(((shap - mean) ** 2).sum())
    if total <= 0:
        return Effect("unclear")
    between = float((sizes * (means - mean) ** 2).sum())
    fits = {shape: _isotonic(sign * means, sizes) * sign for shape, sign in (("increasing", 1), ("decreasing", -1))}
    kept = {shape: between - float((sizes * (means - fit) ** 2).sum()) for shape, fit in fits.items()}
    best = max(kept, key=lambda shape: kept[shape])
    share = max(kept[best], 0.0) / total
    if between / total < MIN_EXPLAINED:
        return Effect("unclear", share)
    if share >= MONOTONE_SHARE * between / total:
        return Effect(best, share)  # type: ignore[arg-type]  # best is one of the two monotone shapes
    return Effect("non_monotonic", share, high_at=_high_at(means))


def stable_order(column: np.ndarray) -> np.ndarray:
    """Exactly `np.argsort(column, kind="stable")` for a column without NaN, faster on the columns tables have.

    numpy's stable sort of floats is a merge sort (about 10 ms per 100,000 values, the most of building a
    100,000-row result: one per feature). A column of at most 65,536 distinct values is sorted by the rank of
    its value instead: pandas' hash factorization, the few distinct values sorted, then a stable sort of
    16-bit ranks, which numpy does as a radix sort (linear). Equal values get equal ranks (-0.0 is made 0.0
    first, as the comparison sees them), so ties keep their order as in the stable sort."""
    codes, distinct = pd.factorize(column + 0.0, sort=False)
    if len(distinct) > 2**16:
        return np.argsort(column, kind="stable")
    rank = np.empty(len(distinct), dtype=np.uint16)
    rank[np.argsort(distinct)] = np.arange(len(distinct), dtype=np.uint16)
    return np.argsort(rank[codes], kind="stable")


def _isotonic(means: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-decreasing fit of `means` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for mean, weight in zip(means, weights, strict=True):
        blocks.append([float(mean), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            last = blocks.pop()
            merged = blocks[-1][1] + last[1]
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + last[0] * last[1]) / merged, merged, blocks[-1][2] + last[2]]
    return np.repeat([b[0] for b in blocks], [int(b[2]) for b in blocks])


def _high_at(means: np.ndarray) -> Literal["low", "middle", "high", "ends"]:
    """Where a non-monotonic curve is highest: of its lower, middle and upper thirds, or both ends."""
    low, middle, high = (float(part.mean()) for part in np.array_split(means, 3))
    if low > middle and high > middle:
        return "ends"
    return ("low", "middle", "high")[int(np.argmax([low, middle, high]))]


def categorical(column: pd.Series, shap: np.ndarray) -> Effect:
    """The categories with the highest and lowest mean SHAP value (at most SHOWN_CATEGORIES each, disjoint)."""
    means = pd.Series(shap, index=column.index).groupby(column.astype(str).to_numpy()).mean()
    ranked = [str(c) for c in means.sort_values(ascending=False, kind="stable").index]
    shown = min(SHOWN_CATEGORIES, len(ranked) // 2)
    return Effect("categorical", highest=tuple(ranked[:shown]), lowest=tuple(ranked[::-1][:shown]))
