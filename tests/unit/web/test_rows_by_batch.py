"""GET .../rows written a stored record batch at a time (web.rows_answer, store.result_store.StoredRows.batches):
the same rows and values as the whole table written at once, whatever offset and limit cut across batches."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as ipc
import pytest

from store.result_store import StoredRows
from web import rows_answer
from web.api_models import RowsQuery

ROWS, BATCH = 23, 5


def stored_stream() -> bytes:
    """A table as an earlier build stored it (value_ columns inside), in batches of BATCH rows; the text feature
    has no value in the first batch (a null-typed column when that batch is read alone)."""
    table = pa.table({
        "row": pa.array(range(ROWS), type=pa.int64()),
        "prediction": [i / 7 for i in range(ROWS)],
        "shap_a": [None if i % 4 == 0 else -i / 3 for i in range(ROWS)],
        "value_a": [float(i) for i in range(ROWS)],
        "value_b": [None if i < BATCH else f"c{i % 3}" for i in range(ROWS)],
    })
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=BATCH)
    return sink.getvalue().to_pybytes()


def body(answer: rows_answer.RowsAnswer) -> bytes:
    return answer.body if isinstance(answer.body, bytes) else b"".join(answer.body)


@pytest.mark.parametrize("cut", [{}, {"offset": 3}, {"offset": 4, "limit": 9}, {"offset": 5, "limit": 5},
                                 {"limit": 1}, {"offset": 22}, {"offset": 30}, {"limit": 0}])
@pytest.mark.parametrize("columns", [None, "*", "value_*"])
def test_batch_by_batch_is_the_whole_table(cut: dict[str, int], columns: str | None) -> None:
    data = stored_stream()
    query = RowsQuery.model_validate({**cut, **({} if columns is None else {"columns": columns})})
    whole = StoredRows(ipc.open_stream(data).read_all(), None)
    by_batch = StoredRows(ipc.open_stream(data).schema.empty_table(), None, stream=data)
    expected = ipc.open_stream(body(rows_answer.answer(whole, query, "arrow"))).read_all()
    streamed = rows_answer.answer(by_batch, query, "arrow")
    got = ipc.open_stream(body(streamed)).read_all()
    assert got.to_pydict() == expected.to_pydict()
    assert got.num_rows == len(range(ROWS)[cut.get("offset", 0):][:cut.get("limit", ROWS)])
    csv_whole = pa_csv.read_csv(io.BytesIO(body(rows_answer.answer(whole, query, "csv"))))
    csv_streamed = pa_csv.read_csv(io.BytesIO(body(rows_answer.answer(by_batch, query, "csv"))))
    assert csv_streamed.equals(csv_whole)
    assert rows_answer.streamed(query, "arrow") and not rows_answer.streamed(query, "parquet")
