"""Honest warnings about the data and the model (docs/warnings.md): likely target leaks
and the training range, measured once when a model is trained and stored in its meta; a weak model,
judged from its held-out metrics; rows of the caller's `data` outside the training range, flagged per row.

Thresholds, chosen by measurement (the figures are in bench/RESULTS.md, "Leakage thresholds"):
- LEAK_SPEARMAN: a numeric feature whose |Spearman| with a numeric target reaches it nearly determines the
  target. The real features of `default` and the wide table reach at most 0.918; the wide table's leak
  (`Turnout_Pct_Official`, the target plus small noise) reaches 0.9993 (bench/leakage.py).
- LEAK_AUC: for a binary target, a numeric feature that alone ranks the two classes this well
  (one-feature AUC, or 1 - AUC) nearly determines it; the wide table's real features reach 0.954 for a binary
  `Default_Rate > median`. |Spearman| with a 0/1 target cannot approach 1.
- WEAK_R2, WEAK_AUC, WEAK_SKILL: a model below these on its held-out rows explains little of the target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.labels import shown_name
from analysis.model_meta import Leak, Metrics, ModelMeta, TrainingRange

LEAK_SPEARMAN = 0.98
LEAK_AUC = 0.99
LEAK_SAMPLE_ROWS = 20_000  # rows the leak check ranks (seeded sample): |Spearman| within ~0.01 of all rows
LEAK_BLOCK_COLUMNS = 256  # columns ranked at once: 20,000 x 256 floats are 40 MB
WEAK_R2 = 0.3
WEAK_AUC = 0.6
WEAK_SKILL = 0.1  # multiclass: share of the majority-class guess's errors the model avoids
MAX_KNOWN_CATEGORIES = 1000  # a categorical feature with more distinct values has no category check
NAMED_ROWS = 20


def auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """The area under the ROC curve of `score` for the boolean labels `positive` (Mann-Whitney, ties
    counted half); None when either class is absent."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def association(task: str, values: np.ndarray, target: np.ndarray, positive: np.ndarray) -> float | None:
    """|Spearman| with a numeric target, or the one-feature AUC (either direction) for a binary one."""
    if task == "binary":
        found = auc(positive, values)
        return None if found is None else max(found, 1.0 - found)
    rank_x = pd.Series(values).rank().to_numpy()
    rank_y = pd.Series(target).rank().to_numpy()
    if np.std(rank_x) == 0 or np.std(rank_y) == 0:
        return None
    return abs(float(np.corrcoef(rank_x, rank_y)[0, 1]))


def _complete_associations(block: np.ndarray, target: np.ndarray, positive: np.ndarray, task: str) -> np.ndarray:
    """`association` of each column of `block` (the ranks of columns without missing values), at once."""
    if task == "binary":
        n_pos = int(positive.sum())
        n_neg = len(positive) - n_pos
        if n_pos == 0 or n_neg == 0:
            return np.full(block.shape[1], np.nan)
        found = (block[positive].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        return np.maximum(found, 1.0 - found)
    centred = block - block.mean(axis=0)
    rank_y = pd.Series(target.astype(float)).rank().to_numpy()
    rank_y = rank_y - rank_y.mean()
    scale = np.sqrt((centred**2).sum(axis=0) * (rank_y**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(centred.T @ rank_y) / scale  # a constant column (scale 0) is NaN: never a leak


def _associations(x: pd.DataFrame, target: np.ndarray, positive: np.ndarray, task: str) -> dict[str, float]:
    """Each column's association with the target: columns without missing values ranked and measured a
    block at a time (the cost of the check on a wide table), the others one by one on their present rows."""
    found: dict[str, float] = {}
    for start in range(0, x.shape[1], LEAK_BLOCK_COLUMNS):
        names = [str(c) for c in x.columns[start:start + LEAK_BLOCK_COLUMNS]]
        part = x.iloc[:, start:start + LEAK_BLOCK_COLUMNS].to_numpy(dtype=float)
        finite = np.isfinite(part)
        complete = finite.all(axis=0)
        if complete.any():
            block = pd.DataFrame(part[:, complete]).rank().to_numpy()
            found.update(zip([n for n, c in zip(names, complete, strict=True) if c],
                             _complete_associations(block, target, positive, task).tolist(), strict=True))
        for j in np.flatnonzero(~complete).tolist():
            ok = finite[:, j]
            value = association(task, part[ok, j], target[ok], positive[ok]) if ok.sum() >= 10 else None
            if value is not None:
                found[names[j]] = value
    return found


def leaks(x: pd.DataFrame, y: np.ndarray, cat_features: list[str], task: str,
          classes: list[str] | None) -> list[Leak]:
    """The numeric features that nearly determine the target, each with its measure, strongest first.
    Multiclass targets and categorical features are not checked (no single ordinal measure fits them)."""
    if task == "multiclass":
        return []
    rows = np.arange(len(y))
    if len(rows) > LEAK_SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(len(y), LEAK_SAMPLE_ROWS, replace=False))
    target = y[rows] if task == "binary" else y[rows].astype(float)
    positive = target.astype(str) == (classes[-1] if classes else "")
    numeric = x.iloc[rows][[c for c in x.columns if c not in cat_features]].astype(float)
    measure, threshold = ("one_feature_auc", LEAK_AUC) if task == "binary" else ("abs_spearman", LEAK_SPEARMAN)
    found = [Leak.model_validate({"feature": name, measure: round(value, 4)})
             for name, value in _associations(numeric, target, positive, task).items() if value >= threshold]
    return sorted(found, key=lambda item: -item.strength)


def training_range(x: pd.DataFrame, cat_features: list[str]) -> TrainingRange:
    """What the model saw: min and max of each numeric feature, the categories of each categorical one
    (up to MAX_KNOWN_CATEGORIES; a feature with more is not checked). Missing values are not a range."""
    numeric: dict[str, list[float]] = {}
    categories: dict[str, list[str]] = {}
    for name in x.columns:
        if name in cat_features:
            seen = pd.unique(x[name].to_numpy(dtype=object))
            if len(seen) <= MAX_KNOWN_CATEGORIES:
                categories[str(name)] = sorted(str(v) for v in seen if v != "")
            continue
        values = x[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            numeric[str(name)] = [float(values.min()), float(values.max())]
    return TrainingRange(numeric=numeric, categories=categories)


def out_of_range(x: pd.DataFrame, seen: TrainingRange) -> dict[int, list[str]]:
    """Per position of `x` (the explained feature frame), the features whose value lies outside `seen`
    (a training_range): a number below its min or above its max, a category the model never saw.
    Positions with none are left out."""
    flags: dict[int, list[str]] = {}
    for name in x.columns:
        if name in seen.numeric:
            # in the frame's own precision: float32 under AGGRESSIVE_MEMORY_MANAGEMENT, where a value equal to
            # the (float64) maximum rounds above it
            dtype = x[name].dtype if x[name].dtype.kind == "f" else np.dtype("float64")
            values = x[name].to_numpy(dtype=dtype)
            low, high = np.asarray(seen.numeric[name], dtype=dtype)
            with np.errstate(invalid="ignore"):
                beyond = (values < low) | (values > high)  # NaN compares False: missing is not out of range
        elif name in seen.categories:
            values = x[name].to_numpy(dtype=object)
            beyond = ~np.isin(values, [*seen.categories[name], ""])
        else:
            continue
        for position in np.flatnonzero(beyond).tolist():
            flags.setdefault(position, []).append(str(name))
    return flags


def flag(built: list[dict[str, Any]], positions: np.ndarray, flags: dict[int, list[str]]) -> list[dict[str, Any]]:
    """Rows `built` (analysis.rows) at `positions`: those at a flagged position get `out_of_range`."""
    for row, position in zip(built, positions.tolist(), strict=True):
        if position in flags:
            row["out_of_range"] = flags[position]
    return built


def weakness(task: str, metrics: Metrics) -> str | None:
    """Why the model is weak by its held-out metrics, or None when it is not (or was not measured)."""
    if task == "regression" and metrics.r2 is not None and metrics.r2 < WEAK_R2:
        return f"held-out R² {metrics.r2:.2f} is below {WEAK_R2}"
    if task == "binary" and metrics.auc is not None and metrics.auc < WEAK_AUC:
        return f"held-out AUC {metrics.auc:.2f} is below {WEAK_AUC}"
    base, accuracy = metrics.majority_accuracy, metrics.accuracy
    if task == "multiclass" and base is not None and accuracy is not None and base < 1:
        skill = (accuracy - base) / (1 - base)
        if skill < WEAK_SKILL:
            return (f"held-out accuracy {accuracy:.2f} is barely above always guessing the most frequent class "
                    f"({base:.2f})")
    return None


def summary_note(meta: ModelMeta, target: str, labels: dict[str, str]) -> str:
    """The sentences the summary ends with when the model leaks or is weak ("" when neither); columns are
    named by their `labels`, as in the rest of the summary."""
    text = ""
    named = [shown_name(labels, item.feature) for item in meta.leaks]
    if named:
        one = len(named) == 1
        text += (f" Caution: {', '.join(named[:NAMED_ROWS])} nearly {'determines' if one else 'determine'} "
                 f"{shown_name(labels, target)} (likely target leakage); exclude {'it' if one else 'them'} with "
                 f"exclude_columns unless {'it is' if one else 'they are'} known before the target.")
    weak = weakness(meta.task, meta.metrics)
    if weak:
        text += f" Caution: the model is weak ({weak}), so these explanations describe a weak model."
    return text


def notes(meta: ModelMeta, target: str, flags: dict[int, list[str]], given_rows: int) -> list[str]:
    """The warnings about the model's data and quality (the summary repeats the first two kinds);
    `flags` are out_of_range's for the `given_rows` rows of the caller's `data` (none for dataset rows)."""
    found = []
    named = [item.feature for item in meta.leaks]
    if named:
        verbs = ("determines", "dominates", "that value is") if len(named) == 1 else \
            ("determine", "dominate", "those values are")
        found.append(f"likely target leakage: {', '.join(named[:NAMED_ROWS])} nearly {verbs[0]} {target} and "
                     f"{verbs[1]} the explanation; if {verbs[2]} not known before the target, pass "
                     f"exclude_columns={named[:NAMED_ROWS]} and analyze again")
    weak = weakness(meta.task, meta.metrics)
    if weak:
        found.append(f"weak model: {weak}; its explanations describe a weak model, not the target's real drivers")
    if not meta.metrics.as_dict():
        found.append("the model's quality is not measured: fewer than 50 rows have a target, so none were held out")
    if flags:
        found.append(f"{len(flags)} of the {given_rows} data rows hold values outside the model's training range "
                     "(each such row's out_of_range names the features): their explanations extrapolate")
    return found
