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
BLOCK_VALUES = 2**21  # values of the numeric features whose effects are computed together (16 MB per matrix)
SORT_TOGETHER_MAX_ROWS = 8_192  # rows up to which a block's columns are ranked and sorted together

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
    feature-major: analysis.explained.ShapColumns.feature_major). The numeric features are read together, a
    block of them at a time (numeric_block)."""
    cats = set(cat_features)
    numeric_at = [i for i, name in enumerate(features) if name not in cats]
    found: dict[str, Effect] = {}
    step = max(1, BLOCK_VALUES // max(1, len(x))) if len(x) <= SORT_TOGETHER_MAX_ROWS else 1  # long: one by one
    for start in range(0, len(numeric_at), step):
        at = numeric_at[start:start + step]
        columns = (x.iloc[:, at[0]].to_numpy(dtype=float)[None] if len(at) == 1
                   else np.ascontiguousarray(x.iloc[:, at].to_numpy(dtype=float).T))
        found.update(zip([features[i] for i in at], numeric_block(columns, by_feature[at]), strict=True))
    return {name: categorical(x.iloc[:, i], by_feature[i]) if name in cats else found[name]
            for i, name in enumerate(features)}


def numeric(column: np.ndarray, shap: np.ndarray) -> Effect:
    """The effect of one numeric feature (module docstring's rule)."""
    return numeric_block(np.asarray(column, dtype=float)[None], np.asarray(shap, dtype=float)[None])[0]


def numeric_block(columns: np.ndarray, shap: np.ndarray) -> list[Effect]:
    """The effects of numeric features (module docstring's rule) from their values and SHAP values, one feature
    a row of each, the numbers computed for every feature at once (one numpy call where a feature at a time
    took one per feature per bin: at 1,650 rows x 131 features that per-call overhead was most of the result).
    Each number is the one a feature alone gets, bit for bit (tests/unit/analysis/test_effects.py keeps the
    feature-at-a-time computation as the reference): sums run along contiguous rows, as numpy sums a 1-D array."""
    valued = np.isfinite(columns) & np.isfinite(shap)
    counts = valued.sum(axis=1)
    keys = np.where(valued, columns + 0.0, np.inf)  # rows without a value sort last, out of every bin
    ranked = _ranked(shap, keys)  # SHAP values by the feature's value
    kept = np.flatnonzero(counts >= MIN_ROWS)  # MIN_ROWS >= BINS: every kept feature has BINS bins
    out = [Effect("unclear")] * len(columns)
    if not len(kept):
        return out
    means, sizes = _bin_means(ranked[kept], counts[kept])
    centre, total = _spread(shap[kept], valued[kept], counts[kept])
    between = (sizes * (means - centre[:, None]) ** 2).sum(axis=1)
    rows, weights = means.tolist(), sizes.tolist()
    fits = [np.array([_isotonic([sign * m for m in row], w) for row, w in zip(rows, weights, strict=True)]) * sign
            for sign in (1, -1)]  # a decreasing fit is the increasing fit of the negated means, negated
    rising, falling = (between - (sizes * (means - fit) ** 2).sum(axis=1) for fit in fits)
    for k, f in enumerate(kept.tolist()):
        out[f] = _rule(float(total[k]), float(between[k]), float(rising[k]), float(falling[k]), means[k])
    return out


def _rule(total: float, between: float, rising: float, falling: float, means: np.ndarray) -> Effect:
    """The module docstring's rule for one feature with enough rows: `total`, the sum of squared deviations of
    its SHAP values; `between`, the part of it the bins' means explain; `rising` and `falling`, the parts the
    best increasing and decreasing fits of those means keep."""
    if total <= 0:
        return Effect("unclear")
    best, best_kept = ("increasing", rising) if rising >= falling else ("decreasing", falling)
    share = max(best_kept, 0.0) / total
    if between / total < MIN_EXPLAINED:
        return Effect("unclear", share)
    if share >= MONOTONE_SHARE * between / total:
        return Effect(best, share)  # type: ignore[arg-type]  # best is one of the two monotone shapes
    return Effect("non_monotonic", share, high_at=_high_at(means))


def _ranked(shap: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each row of `shap` in the stable order of the same row of `keys` (no NaN in them). Short rows: all at
    once (_stable_orders); long ones a row at a time by stable_order, where one row's gather stays in the
    cache (at 100,000 rows a gather of the whole block took 0.16 s of a 0.6 s result)."""
    if keys.shape[1] <= SORT_TOGETHER_MAX_ROWS:
        return np.take_along_axis(shap, _stable_orders(keys), axis=1)
    ranked = np.empty_like(shap)
    for row, (values, key) in enumerate(zip(shap, keys, strict=True)):
        np.take(values, stable_order(key), out=ranked[row])
    return ranked


def _stable_orders(keys: np.ndarray) -> np.ndarray:
    """Exactly `np.argsort(keys, axis=1, kind="stable")` for keys without NaN (as stable_order does for one).

    The block's values are ranked together (one hash factorization of all of them, their distinct values
    sorted) and, when at most 65,536 are distinct, the 16-bit ranks are sorted, which numpy does as a radix
    sort (1,650 rows x 131 features: 3.4 ms against 10.8 ms for the stable sort of the floats); more distinct
    values: numpy's stable sort of the floats."""
    codes, distinct = pd.factorize(keys.reshape(-1), sort=False)
    if len(distinct) > 2**16:
        return np.argsort(keys, axis=1, kind="stable")
    rank = np.empty(len(distinct), dtype=np.uint16)
    rank[np.argsort(distinct)] = np.arange(len(distinct), dtype=np.uint16)
    return np.argsort(rank[codes].reshape(keys.shape), axis=1, kind="stable")


def _bin_means(ranked: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature (a row of `ranked`, its first counts[f] values those of the rows with a value), the mean of
    each of BINS bins as `np.array_split` cuts them (the first count % BINS bins one value longer: two
    matrices of equal bins, averaged along their rows), and the bins' sizes as floats."""
    small, longer = np.divmod(counts, BINS)
    sizes = small[:, None] + (np.arange(BINS) < longer[:, None])
    means = np.empty(sizes.shape)
    for f, (size, cut, count) in enumerate(zip(small.tolist(), longer.tolist(), counts.tolist(), strict=True)):
        edge = cut * (size + 1)
        means[f, :cut] = ranked[f, :edge].reshape(cut, size + 1).mean(axis=1)
        means[f, cut:] = ranked[f, edge:count].reshape(BINS - cut, size).mean(axis=1)
    return means, sizes.astype(float)


def _spread(shap: np.ndarray, valued: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, the mean of its SHAP values on the rows with a value, and their sum of squared deviations
    from it (in the rows' order); features with as many such rows are done in one matrix."""
    centre, total = np.empty(len(counts)), np.empty(len(counts))
    for count in np.unique(counts).tolist():
        at = np.flatnonzero(counts == count)
        values = shap[at][valued[at]].reshape(len(at), count)  # each row's valued entries, in order
        centre[at] = values.mean(axis=1)
        total[at] = ((values - centre[at][:, None]) ** 2).sum(axis=1)
    return centre, total


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


def _isotonic(means: list[float], weights: list[float]) -> list[float]:
    """The weighted least-squares non-decreasing fit of `means` (pool adjacent violators), on Python floats (a
    loop over numpy scalars costs more than the arithmetic): each value joins the blocks before it that lie
    above it, a block's mean the weighted mean of the two it merges (the earlier one first)."""
    levels: list[float] = []
    totals: list[float] = []  # each block's weight
    counts: list[int] = []
    for mean, weight in zip(means, weights, strict=True):
        count = 1
        while levels and levels[-1] > mean:
            before = totals.pop()
            merged = before + weight
            mean, weight = (levels.pop() * before + mean * weight) / merged, merged
            count += counts.pop()
        levels.append(mean)
        totals.append(weight)
        counts.append(count)
    return [level for level, count in zip(levels, counts, strict=True) for _ in range(count)]


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
