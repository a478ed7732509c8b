"""The row objects of a result's `results`, built column-wise: every per-row field is gathered with numpy
for a whole chunk of rows and turned into Python objects once (`tolist`), then the dicts are made by
zipping those lists. A row is the same dict, key for key and value for value, as one built field by field
(tests/unit/analysis/test_result_rows.py keeps that straightforward construction as the reference); it only costs a
few C-level steps per row instead of a Python function call and a dozen lookups per field."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

TOP_CONTRIBUTORS = 3
PARTITION_FROM = 64  # columns from which top_positions partitions rather than sorts (1,650 x 131: 2x faster)


def top_positions(values: np.ndarray, k: int) -> np.ndarray:
    """Per row, the positions of the `k` largest |values|, largest first, ties in position order: exactly
    `np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]`, without sorting every row whole.

    argpartition finds the k largest in linear time but picks arbitrarily among values tied at the k-th;
    rows with such a tie (more than k values at least the k-th largest), and any matrix with NaN, are
    sorted whole instead. Below PARTITION_FROM columns a whole sort is as fast (measured: 28 columns)."""
    magnitude = np.abs(values)
    k = min(k, values.shape[1])
    if k == 0 or values.shape[1] < PARTITION_FROM or np.isnan(magnitude).any():
        return np.argsort(-magnitude, axis=1, kind="stable")[:, :k]
    width = values.shape[1]
    picked = np.sort(np.argpartition(magnitude, width - k, axis=1)[:, width - k:], axis=1)  # by position: stable
    picked_magnitude = np.take_along_axis(magnitude, picked, axis=1)
    by_size = np.argsort(-picked_magnitude, axis=1, kind="stable")
    top = np.take_along_axis(picked, by_size, axis=1)
    kth = picked_magnitude.min(axis=1, keepdims=True)
    tied = np.flatnonzero((magnitude >= kth).sum(axis=1) > k)
    if len(tied):
        top[tied] = np.argsort(-magnitude[tied], axis=1, kind="stable")[:, :k]
    return top


def plain_list(column: np.ndarray) -> list[Any]:
    """The JSON-friendly scalars of a column: numpy numbers as Python ones, NaN and infinities as None."""
    if column.dtype.kind == "f":
        out = column.astype(object)
        out[~np.isfinite(column)] = None
        return out.tolist()
    if column.dtype.kind in "iub":
        return column.tolist()
    values = column.tolist()
    if set(map(type, values)) <= {str}:  # text ids: nothing to convert (one C-level pass, not a call per value)
        return values
    return [plain(value) for value in values]


def plain(value: Any) -> Any:
    """A JSON-friendly scalar: numpy numbers become Python ones, NaN/inf become None."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _nan_as_none(picked: np.ndarray) -> list[list[Any]]:
    """Rows of shown feature values, NaN made None (infinities stay: orjson writes them as null)."""
    out = picked.astype(object)
    out[out != out] = None  # NaN != NaN, elementwise on Python objects as on floats
    return out.tolist()


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector paused while a chunk's rows are made: they are tens of thousands of new
    dicts and lists, which set off collections that scan every live object again and again (a third of
    the build time, measured on 100,000 rows). The rows hold no cycles: reference counting frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class RowBuilder:
    """Builds the row objects of `results` for given positions of the explained frame.

    `columns` are the per-row fields before `top_contributors` (id columns, target, prediction,
    raw_prediction, per-task extras), each one value per explained row; `position` the 1-based rank of
    each row when the results are ranked."""

    def __init__(self, columns: dict[str, np.ndarray | list[Any]], x: pd.DataFrame, features: list[str],
                 values: np.ndarray, position: np.ndarray | None) -> None:
        self.columns, self.x, self.values, self.position = columns, x, values, position
        self.names = np.array(features, dtype=object)
        kinds = np.array([dtype.kind == "f" for dtype in x.dtypes], dtype=bool)
        self.numeric_positions = np.flatnonzero(kinds)
        self.categorical_positions = np.flatnonzero(~kinds)  # categorical features: text columns
        self.category_slot = np.full(len(kinds), -1)  # feature position -> its column among the categorical
        self.category_slot[self.categorical_positions] = np.arange(len(self.categorical_positions))

    def __call__(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """The row objects of `rows` (positions in the explained frame), in that order."""
        with cyclic_gc_paused():
            keys = [*self.columns, "top_contributors"]
            fields = [self._field(column, rows) for column in self.columns.values()]
            fields.append(self._contributors(rows))
            if self.position is not None:
                keys.append("rank")
                fields.append(self.position[rows].tolist())
            # all C-level loops: about 30% faster than a comprehension of dict(zip(keys, row)) (measured)
            return list(map(dict, map(zip, repeat(keys), zip(*fields, strict=True))))

    def field(self, name: str, rows: np.ndarray) -> list[Any]:
        """One of `columns` for `rows`, as the row objects show it (plots read the ids and classes)."""
        return self._field(self.columns[name], rows)

    @staticmethod
    def _field(column: np.ndarray | list[Any], rows: np.ndarray) -> list[Any]:
        if isinstance(column, np.ndarray):
            return plain_list(column[rows])
        return [column[r] for r in rows.tolist()]

    def _contributors(self, rows: np.ndarray) -> list[list[dict[str, Any]]]:
        """Per row, its TOP_CONTRIBUTORS features by |SHAP value|: feature, SHAP value and the row's value."""
        chunk = self.values[rows]
        top = top_positions(chunk, TOP_CONTRIBUTORS)
        shap = np.take_along_axis(chunk, top, axis=1).T.tolist()
        shown = _nan_as_none(self._shown_values(rows, top).T)
        names = self.names[top].T.tolist()
        per_rank = [[{"feature": f, "shap_value": s, "value": v} for f, s, v in zip(*picked, strict=False)]
                    for picked in zip(names, shap, shown, strict=True)]  # (inner lists: equal by construction)
        return list(map(list, zip(*per_rank, strict=True)))

    def _shown_values(self, rows: np.ndarray, top: np.ndarray) -> np.ndarray:
        """The rows' values of their `top` features: the numeric columns read as one float block, the
        categorical ones apart (an object copy of the whole chunk cost more than the rest of this)."""
        if not len(self.categorical_positions):
            return np.take_along_axis(self.x.iloc[rows].to_numpy(), top, axis=1)
        floats = np.full((len(rows), self.x.shape[1]), np.nan)
        floats[:, self.numeric_positions] = self.x.iloc[rows, self.numeric_positions].to_numpy(dtype=np.float64)
        picked = np.take_along_axis(floats, top, axis=1).astype(object)
        at, rank = np.nonzero(self.category_slot[top] >= 0)
        if len(at):
            text = self.x.iloc[rows, self.categorical_positions].to_numpy(dtype=object)
            picked[at, rank] = text[at, self.category_slot[top[at, rank]]]
        return picked
