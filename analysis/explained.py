"""The containers of an analysis's explained rows, apart from explain.run so that the parts built on
top of it (explain.question_answers, analysis.encoding, analysis.feature_values) use them without importing it:
Explanation (what the SHAP pass found), ShapColumns and ResultRows (the result's `shap_values` and
`results`, materialized only when the result is encoded)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis import data_checks
from analysis.rows import RowBuilder


@dataclass(frozen=True)
class Explanation:
    """What the SHAP pass found for the explained rows (positions of the explained frame)."""

    values: np.ndarray  # (rows, features): the explained SHAP vector of each row
    raw: np.ndarray  # (rows,): the raw score of the explained output
    predictions: list[Any]
    base_value: Any
    extra: dict[str, Any]  # per-task columns: predicted_class, or explained_class and probability
    probabilities: np.ndarray | None = None  # multiclass: (rows, classes), every class's probability


class ShapColumns:
    """`shap_values` of the result: one contiguous column per feature, made when it is encoded, so the
    (rows x features) matrix is never copied whole. Rows follow `order`, the order of `results`. `frame`:
    the explained rows' feature values (the model's input), which the worker stores apart
    (analysis.feature_values) with `classes`, the model's (None for a regression)."""

    def __init__(self, features: list[str], values: np.ndarray, order: np.ndarray,
                 frame: pd.DataFrame | None = None, classes: list[Any] | None = None,
                 probabilities: np.ndarray | None = None) -> None:
        self.features = features
        self._feature_major: np.ndarray | None = None
        self.probabilities = probabilities  # multiclass: (rows, classes) by position, the rows table's
        self.values = values
        self.order = order
        self.frame = frame
        self.classes = classes

    def feature_major(self) -> np.ndarray:
        """`values` copied once as float64 (features x rows, rows by position), kept: the effect shapes read each
        feature's values from it and the rows table stores its rows (one transpose of the matrix for both; at
        100,000 x 131, a strided walk per feature costs a cache miss per value)."""
        if self._feature_major is None:
            self._feature_major = np.ascontiguousarray(np.asarray(self.values, dtype=np.float64).T)
        return self._feature_major

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        for i, name in enumerate(self.features):
            yield name, np.ascontiguousarray(self.values[self.order, i])

    def to_dict(self) -> dict[str, np.ndarray]:
        return dict(self.items())


class ResultRows:
    """`results` of the result: the row objects, built `chunk` rows at a time when they are encoded, so
    all of them never exist at once (100,000 rows of dicts would take about 1 KB each). `flags`: the
    features outside the training range of the rows (by position) that have some (analysis.data_checks)."""

    def __init__(self, build: RowBuilder, order: np.ndarray, chunk: int,
                 flags: dict[int, list[str]] | None = None) -> None:
        self._build = build
        self._order = order
        self._chunk = max(1, chunk)
        self._flags = flags

    def _rows(self, positions: np.ndarray) -> list[dict[str, Any]]:
        built = self._build(positions)
        return data_checks.flag(built, positions, self._flags) if self._flags else built

    def __len__(self) -> int:
        return len(self._order)

    @property
    def ranked(self) -> bool:
        """The rows carry their `rank` (a ranking analysis)."""
        return self._build.position is not None

    def flags_by_row(self) -> dict[int, list[str]]:
        """The out-of-range flags by the row's place in `results` (what a stored result keeps of them)."""
        if not self._flags:
            return {}
        return {i: self._flags[p] for i, p in enumerate(self._order.tolist()) if p in self._flags}

    def fields(self) -> list[str]:
        """The per-row fields before top_contributors: the id columns, the target when shown, prediction..."""
        return list(self._build.columns)

    def column(self, name: str) -> list[Any]:
        """One of `fields()` for every row, in the rows' order, without building the rows."""
        return self._build.field(name, self._order)

    def first(self) -> dict[str, Any]:
        return self._rows(self._order[:1])[0]

    def chunks(self) -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(self._order), self._chunk):
            yield self._rows(self._order[start:start + self._chunk])

    def to_list(self) -> list[dict[str, Any]]:
        return [row for chunk in self.chunks() for row in chunk]
