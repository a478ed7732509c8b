"""The rows of a comparison: each cohort's rows among the selected ones, and the union that is explained.

A cohort is the rows that pass `demographic_filters` (the selection, from the dataset or from `data`) and
the cohort's own filters; `"rest"` is the selected rows no other cohort holds. Cohorts may overlap: a row
then counts in each of them (a warning says how many rows two cohorts share). The union of the cohorts is
explained once, with one model; when it has more rows than `sample_size` (or MAX_ROWS), a seeded random
sample of it is. The web runs the same code before enqueueing, so an empty cohort is a 400 naming it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common import datasets
from common.errors import EmptySelection, InvalidRequest, shown
from common.filters import apply_filters, parse_filters
from common.request import AnalyzeRequest
from common.request_parts import REST
from common.selection import Selection, select_rows

SMALL_COHORT = 30  # fewer rows than this: a warning says its means and intervals are uncertain


@dataclass
class CohortSelection(Selection):
    """The explained rows (the union of the cohorts) and which cohorts each of them belongs to."""

    names: list[str] = field(default_factory=list)
    membership: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))  # (rows, cohorts)


def _masks(selected: Selection, frame: pd.DataFrame, meta: dict, request: AnalyzeRequest) -> dict[str, np.ndarray]:
    """Per cohort, which selected rows it holds (quantile filters use the whole dataset, as everywhere)."""
    assert request.cohorts is not None
    types = datasets.column_types(meta)
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


def select_cohorts(frame: pd.DataFrame, meta: dict, request: AnalyzeRequest, max_rows: int) -> CohortSelection:
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
    if len(union) > limit:  # the same seeded draw as common.selection
        picked = np.sort(np.random.default_rng(0).choice(len(union), size=limit, replace=False))
        warnings.append(f"explained a seeded random sample of {limit} of the cohorts' {len(union)} rows")
        union = union[picked]
    membership = membership[union]
    _refuse_empty(dict(zip(names, membership.T, strict=True)), after_sampling=True)
    warnings += _overlaps(names, membership)
    warnings += [f"cohort {shown(n)} has only {int(c)} rows: its means and intervals are uncertain"
                 for n, c in zip(names, membership.sum(axis=0), strict=True) if c < SMALL_COHORT]
    return CohortSelection(selected.frame.iloc[union], warnings, total, names, membership)
