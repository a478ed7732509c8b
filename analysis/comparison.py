"""The rows of a comparison: each cohort's rows among the selected ones, and the union that is explained.

A cohort is the rows that pass `demographic_filters` (the selection, from the dataset or from `data`) and
the cohort's own filters; `"rest"` is the selected rows no other cohort holds. Cohorts may overlap: a row
then counts in each of them (a warning says how many rows two cohorts share). The union of the cohorts is
explained once, with one model; when it has more rows than `sample_size` (or MAX_ROWS), a seeded random
sample of it is. The web runs the same code before enqueueing, so an empty cohort is a 400 naming it.

Cohort comparison (analysis_type "comparison"): per cohort its mean prediction, mean SHAP and mean |SHAP|
per feature; per pair of cohorts each feature's difference of mean SHAP with a bootstrap interval, and
its share of the difference of mean predictions.

Everything is on the model's raw scale (a regression's prediction, a binary target's log-odds), where a
row's SHAP values add up to its raw prediction minus the base value. The base value is the same for every
row, so for two cohorts A and B

    mean_raw(A) - mean_raw(B) = sum over features of (mean_shap(A, f) - mean_shap(B, f)),

and each feature's difference is its exact share of the difference of mean predictions (shares add up to
1; a feature that pulls the other way has a negative share, so others may exceed 1).

Intervals: percentile bootstrap, BOOTSTRAP_RESAMPLES resamples of each cohort's rows (with replacement,
each cohort apart, from a numpy Generator seeded with BOOTSTRAP_SEED), so the same request gives the same
intervals. Overlapping cohorts are resampled apart too, which ignores that they share rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.dataset_meta import DatasetMeta
from analysis.filters import apply_filters, parse_filters
from analysis.labels import shown_name
from analysis.request import AnalyzeRequest
from analysis.request_parts import REST
from analysis.selection import Selection, select_rows
from analysis.wording import number, signed
from common.errors import EmptySelection, InvalidRequest, shown

SMALL_COHORT = 30  # fewer rows than this: a warning says its means and intervals are uncertain


@dataclass
class CohortSelection(Selection):
    """The explained rows (the union of the cohorts) and which cohorts each of them belongs to."""

    names: list[str] = field(default_factory=list)
    membership: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))  # (rows, cohorts)


def _masks(selected: Selection, frame: pd.DataFrame, meta: DatasetMeta,
           request: AnalyzeRequest) -> dict[str, np.ndarray]:
    """Per cohort, which selected rows it holds (quantile filters use the whole dataset, as everywhere)."""
    assert request.cohorts is not None
    types = meta.column_types()
    masks: dict[str, np.ndarray] = {}
    for name, texts in request.cohorts.items():
        if name == REST:
            continue
        try:
            filters = parse_filters(texts, types)
        except InvalidRequest as exc:  # the same error, saying which cohort holds the filter
            raise type(exc)(f"cohort {shown(name)}: {exc.message}", details=exc.details) from None
        masks[name] = apply_filters(selected.frame, filters, reference=frame)
    if REST in request.cohorts:
        others = np.any(np.column_stack(list(masks.values())), axis=1)
        masks = {name: masks[name] if name != REST else ~others for name in request.cohorts}
    return masks


def _refuse_empty(masks: dict[str, np.ndarray], after_sampling: bool) -> None:
    for name, mask in masks.items():
        if mask.any():
            continue
        if after_sampling:
            raise EmptySelection(f"cohort {shown(name)} has no row in the seeded sample of the cohorts' rows; raise "
                                 "sample_size or widen the cohort.", details={"cohort": shown(name, quoted=False)})
        why = "every selected row is in another cohort" if name == REST else "its filters select no row"
        raise EmptySelection(f"cohort {shown(name)} is empty: {why}; change its filters or remove it.",
                             details={"cohort": shown(name, quoted=False)})


def _overlaps(names: list[str], membership: np.ndarray) -> list[str]:
    notes = []
    for i, first in enumerate(names):
        for j in range(i + 1, len(names)):
            shared = int(np.sum(membership[:, i] & membership[:, j]))
            if shared:
                notes.append(f"cohorts {shown(first)} and {shown(names[j])} overlap: {shared} rows are in both and "
                             "count in each one's means")
    return notes


def select_cohorts(frame: pd.DataFrame, meta: DatasetMeta, request: AnalyzeRequest, max_rows: int) -> CohortSelection:
    """The union of the cohorts' rows (sampled down to the request's limit), with each row's cohorts."""
    selected = select_rows(frame, meta, request.model_copy(update={"sample_size": None}), max_rows)
    masks = _masks(selected, frame, meta, request)
    _refuse_empty(masks, after_sampling=False)
    names = list(masks)
    membership = np.column_stack([masks[n] for n in names])
    union = np.flatnonzero(membership.any(axis=1))
    warnings = list(selected.warnings)
    limit = min(request.sample_size or max_rows, max_rows)
    total = len(union)
    if len(union) > limit:  # the same seeded draw as analysis.selection
        picked = np.sort(np.random.default_rng(0).choice(len(union), size=limit, replace=False))
        warnings.append(f"explained a seeded random sample of {limit} of the cohorts' {len(union)} rows")
        union = union[picked]
    membership = membership[union]
    _refuse_empty(dict(zip(names, membership.T, strict=True)), after_sampling=True)
    warnings += _overlaps(names, membership)
    warnings += [f"cohort {shown(n)} has only {int(c)} rows: its means and intervals are uncertain"
                 for n, c in zip(names, membership.sum(axis=0), strict=True) if c < SMALL_COHORT]
    return CohortSelection(selected.frame.iloc[union], warnings, total, names, membership)


BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
INTERVAL = 0.95
# Counts held at a time (resamples x cohort rows, float64: 32 MB): all 1,000 resamples of a cohort of up to
# 4,194 rows in one matrix product. Few large products, not many small ones: each OpenBLAS call synchronises
# its threads, and on a loaded machine 64 products of 32 resamples measured 40 times slower than one of 1,000.
COUNTS_PER_PRODUCT = 2**22
SUMMARY_PAIRS = 5  # pairs the summary describes (the largest differences of mean prediction first)
SUMMARY_FEATURES = 3  # features named per pair


def bootstrap_means(matrix: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, columns): the column means of `resamples` resamples of `matrix`'s rows with replacement.
    A resample is a count per row (bincount of n draws), so its mean is one matrix product: no copy of rows."""
    n = len(matrix)
    chunk = max(1, min(resamples, COUNTS_PER_PRODUCT // n))
    out = np.empty((resamples, matrix.shape[1]))
    counts = np.empty((chunk, n))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        for row in range(size):
            counts[row] = np.bincount(rng.integers(0, n, n), minlength=n)
        out[start:start + size] = counts[:size] @ matrix / n
    return out


@dataclass(frozen=True)
class Cohort:
    name: str
    positions: np.ndarray  # rows of the explained frame
    mean_raw: float
    mean_shap: np.ndarray  # (features,)
    mean_abs_shap: np.ndarray
    boot: np.ndarray  # (resamples, features + 1): bootstrap means of the SHAP values and of the raw prediction


def cohort_stats(values: np.ndarray, raw: np.ndarray, membership: np.ndarray, names: list[str],
                 resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> list[Cohort]:
    cohorts = []
    for k, name in enumerate(names):
        positions = np.flatnonzero(membership[:, k])
        matrix = np.column_stack([values[positions], raw[positions]])
        rng = np.random.default_rng([seed, k])  # one stream per cohort: a pair's interval is independent of others
        cohorts.append(Cohort(name, positions, float(raw[positions].mean()), values[positions].mean(axis=0),
                              np.abs(values[positions]).mean(axis=0), bootstrap_means(matrix, resamples, rng)))
    return cohorts


def _interval(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tail = 100 * (1 - INTERVAL) / 2
    low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
    return low, high


def pair(first: Cohort, second: Cohort, features: list[str]) -> dict[str, Any]:
    """The comparison of two cohorts: features by |difference of mean SHAP|, largest first."""
    difference = first.mean_shap - second.mean_shap
    total = first.mean_raw - second.mean_raw
    low, high = _interval(first.boot - second.boot)
    ranked = np.argsort(-np.abs(difference), kind="stable")
    return {
        "cohorts": [first.name, second.name],
        "mean_prediction": [first.mean_raw, second.mean_raw],
        "difference": total,
        "interval": [float(low[-1]), float(high[-1])],
        "features": [{"feature": features[i], "difference": float(difference[i]),
                      "interval": [float(low[i]), float(high[i])],
                      "share": float(difference[i] / total) if total != 0 else None} for i in ranked],
    }


def _cohort_json(cohort: Cohort, filters: list[str], features: list[str], probability: np.ndarray | None):
    entry: dict[str, Any] = {"name": cohort.name, "filters": filters, "rows": len(cohort.positions),
                             "mean_prediction": cohort.mean_raw}
    if probability is not None:
        entry["mean_probability"] = float(probability[cohort.positions].mean())
    entry["mean_shap"] = dict(zip(features, cohort.mean_shap.tolist(), strict=True))
    entry["mean_abs_shap"] = dict(zip(features, cohort.mean_abs_shap.tolist(), strict=True))
    entry["positions"] = cohort.positions
    return entry


def compare(values: np.ndarray, raw: np.ndarray, membership: np.ndarray, names: list[str], features: list[str],
            filters: dict[str, list[str]], probability: np.ndarray | None = None,
            resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """The `comparison` part of the result (docs/analyses.md, "Cohort comparison"). `probability` (binary only): each
    row's probability of the second class, reported beside the log-odds."""
    cohorts = cohort_stats(values, raw, membership, names, resamples)
    return {
        "scale": "prediction" if probability is None else "log_odds",
        "bootstrap": {"resamples": resamples, "seed": BOOTSTRAP_SEED, "interval": INTERVAL, "method": "percentile"},
        "cohorts": [_cohort_json(c, filters.get(c.name, []), features, probability) for c in cohorts],
        "pairs": [pair(cohorts[i], cohorts[j], features)
                  for i in range(len(cohorts)) for j in range(i + 1, len(cohorts))],
    }


def summary(comparison: dict[str, Any], target: str, labels: dict[str, str]) -> str:
    """The largest differences in words: the pairs whose mean predictions differ most, and per pair the
    features that account for most of it (named by their `labels`, analysis.labels)."""
    scale = "log-odds of" if comparison["scale"] == "log_odds" else "predicted"
    rows = {c["name"]: c["rows"] for c in comparison["cohorts"]}
    probability = {c["name"]: c["mean_probability"] for c in comparison["cohorts"] if "mean_probability" in c}
    pairs = sorted(comparison["pairs"], key=lambda p: -abs(p["difference"]))
    sentences = []
    for item in pairs[:SUMMARY_PAIRS]:
        a, b = item["cohorts"]
        drivers = ", ".join(
            f"{shown_name(labels, f['feature'])} {signed(f['difference'])} "
            f"(95% interval {signed(f['interval'][0])} to {signed(f['interval'][1])}"
            + (f", {100 * f['share']:.0f}% of the gap)" if f["share"] is not None else ")")
            for f in item["features"][:SUMMARY_FEATURES])
        sentences.append(f"'{a}' ({number(rows[a])} rows) vs '{b}' ({number(rows[b])} rows): mean {scale} {target} "
                         f"{number(item['mean_prediction'][0])} vs {number(item['mean_prediction'][1])} "
                         f"({signed(item['difference'])}"
                         + (f"; mean probability {number(probability[a])} vs {number(probability[b])}"
                            if probability else "")
                         + f"); largest differences: {drivers}.")
    more = len(pairs) - SUMMARY_PAIRS
    if more > 0:
        sentences.append(f"{more} more pairs are in comparison.pairs.")
    return " ".join(sentences)
