"""The rows table's stored stream (analysis.rows_table.to_ipc) is written into one buffer allocated at a bound up
front: whatever the data, the bound holds (a stream past it would fail to write) and the stream reads back equal."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from analysis import rows_table


def _table(rows: int, kind: str) -> pa.Table:
    rng = np.random.default_rng(rows)
    if kind == "text":
        return pa.table({"name": pa.array([f"row {rng.random()}" for _ in range(rows)]),
                         "maybe": pa.array([None if i % 3 else float(i) for i in range(rows)])})
    values = rng.normal(size=(rows, 40))
    if kind == "repeating":  # as SHAP values of a few trees are: LZ4 shrinks them
        values = np.round(values, 1)
    return pa.table({f"shap_{k}": pa.array(np.ascontiguousarray(values[:, k])) for k in range(values.shape[1])})


@pytest.mark.parametrize("rows", [0, 1, rows_table.BATCH_ROWS, rows_table.BATCH_ROWS * 2 + 7])
@pytest.mark.parametrize("kind", ["random", "repeating", "text"])
def test_the_stream_fits_its_bound_and_reads_back_equal(rows: int, kind: str) -> None:
    table = _table(rows, kind)
    stream = rows_table.to_ipc(table)
    assert len(stream) <= rows_table._bound(table)
    assert rows_table.from_ipc(bytes(stream)).equals(table)


def test_values_that_do_not_compress_still_fit() -> None:
    """Random doubles do not shrink under LZ4: the bound's worst-case margin is what lets them be written."""
    table = _table(rows_table.BATCH_ROWS, "random")
    assert len(rows_table.to_ipc(table)) >= table.nbytes
