"""A result stored once (analysis.stored_result, analysis.rows_table): the JSON written from the rows table and the
head is the in-memory result's own JSON (analysis.encoding.encode), byte for byte, for every task, ranked or not,
the dataset's rows (values read back from the dataset at their positions) and the client's `data` rows (values
in the table), what-if and comparison answers, and `?fields=` cuts."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest

from analysis import datasets, rows_table, stored_result
from analysis.encoding import encode
from analysis.request import AnalyzeRequest
from devtools import look_table
from explain.run import analyze
from explain.training import TrainedModel, train

ADDITIVITY = 1e-6
STREAM_BATCH = 37  # rows per record batch of the streamed reading (CHUNK_ROWS is larger: each batch is one chunk)


def described() -> tuple[Any, pd.DataFrame]:
    options = datasets.DatasetOptions(id_columns=("area",), exclude_columns=look_table.TARGETS)
    return datasets.describe(look_table.csv_bytes(), options, name="look", max_rows=10_000)


@pytest.fixture(scope="module")
def table() -> tuple[Any, pd.DataFrame]:
    return described()


def stored(result: Any, dataset_rows: bool) -> tuple[bytes, bytes]:
    """What the worker stores: the rows table's IPC stream and the head."""
    x = result.shap_values.frame
    positions = x.index.to_numpy() if dataset_rows else None
    layout = stored_result.layout_of(result, dataset_rows)
    return rows_table.to_ipc(rows_table.build(result, positions)), stored_result.head_bytes(result, layout)


def rebuilt(ipc: bytes, head_raw: bytes, frame: pd.DataFrame, fields: list[str] | None = None) -> bytes:
    head = stored_result.read_head(head_raw)
    table = rows_table.from_ipc(ipc)
    values: stored_result.RowValues = (
        stored_result.DatasetValues(frame, stored_result.positions(table), head.layout)
        if head.layout.values == "dataset" else stored_result.TableValues(table, head.layout))
    return b"".join(stored_result.json_pieces(head, table, values, fields))


def streamed(data: bytes, head_raw: bytes, frame: pd.DataFrame, fields: list[str] | None = None) -> bytes:
    """rebuilt's JSON as the web writes it from the compressed stream (stored_result.StoredStream: SHAP a column
    at a time, the rows a record batch at a time), the table cut into batches of STREAM_BATCH rows so the
    result's rows, ranks and out-of-range flags cross batches."""
    head = stored_result.read_head(head_raw)
    sink = pa.BufferOutputStream()
    whole = rows_table.from_ipc(data)
    with pa.ipc.new_stream(sink, whole.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(whole, max_chunksize=STREAM_BATCH)

    def values_of(part: pa.Table) -> stored_result.RowValues:
        if head.layout.values == "dataset":
            return stored_result.DatasetValues(frame, stored_result.positions(part), head.layout)
        return stored_result.TableValues(part, head.layout)

    data = sink.getvalue().to_pybytes()
    rows = stored_result.StoredStream(lambda: data, lambda: pa.BufferReader(data), values_of)
    return b"".join(stored_result.json_pieces(head, rows, None, fields))


def run(table: tuple[Any, pd.DataFrame], target: str, request: dict[str, Any], dtype: str = "float64") -> None:
    meta, frame = table
    model, model_meta = train(frame, target, datasets.feature_columns(meta, target), thread_count=1)
    trained = TrainedModel("look", model, model_meta)
    parsed = AnalyzeRequest.model_validate(request)
    result = analyze(frame, meta, parsed, target, trained, thread_count=1, batch_size=64, max_rows=10_000,
                     float_dtype=dtype, row_chunk=37)
    expected = encode(result)
    ipc, head = stored(result, parsed.data is None)
    assert rebuilt(ipc, head, frame) == expected
    assert streamed(ipc, head, frame) == expected
    whole = orjson.loads(expected)
    for fields in (["summary"], ["results", "model"], ["shap_values"], ["base_value", "feature_importance"]):
        part = orjson.loads(rebuilt(ipc, head, frame, fields))
        assert part == {name: whole[name] for name in whole if name in fields}
        assert streamed(ipc, head, frame, fields) == rebuilt(ipc, head, frame, fields)
    assert len(head) < 20_000 + len(orjson.dumps(whole.get("scenarios") or whole.get("interactions")))
    rows = rows_table.from_ipc(ipc)
    assert (rows_table.DATASET_ROW in rows.column_names) == (parsed.data is None)
    assert not any(name.startswith("value_") for name in rows.column_names) or parsed.data is not None
    for i, row in enumerate(whole["results"]):
        base = whole["base_value"]
        base = base[row["explained_class"]] if isinstance(base, dict) else base
        total = base + sum(whole["shap_values"][f][i] for f in whole["model"]["features"])
        assert abs(total - row["raw_prediction"]) < ADDITIVITY


@pytest.mark.parametrize("target", look_table.TARGETS)
@pytest.mark.parametrize("analysis_type", ["correlation", "ranking"])
def test_the_json_of_the_stored_rows_is_the_results_json(table: tuple[Any, pd.DataFrame], target: str,
                                                         analysis_type: str) -> None:
    run(table, target, {"dataset": "look", "analysis_type": analysis_type, "sample_size": 150})


def test_filtered_rows_and_float32_inputs_read_back_from_the_dataset(table: tuple[Any, pd.DataFrame]) -> None:
    run(table, "Score", {"dataset": "look", "demographic_filters": ["Region == north"]})
    run(table, "Score", {"dataset": "look", "analysis_type": "ranking"}, dtype="float32")


def test_the_clients_data_rows_keep_their_values_in_the_table(table: tuple[Any, pd.DataFrame]) -> None:
    data = [{"area": "X1", "Income": 1e9, "Age": 30, "Region": "west"}, {"area": "X2", "Income": None, "Age": 44},
            {"area": "X3", "Income": 50_000, "Age": 90, "Region": "north"}]
    run(table, "Score", {"dataset": "look", "data": data})
    run(table, "Approved", {"dataset": "look", "data": data, "analysis_type": "ranking"})


def test_what_if_and_comparison_parts_stay_in_the_head(table: tuple[Any, pd.DataFrame]) -> None:
    run(table, "Score", {"dataset": "look", "analysis_type": "what_if",
                         "scenarios": [{"name": "older", "add": {"Age": 5}}]})
    run(table, "Approved", {"dataset": "look", "analysis_type": "comparison",
                            "cohorts": {"north": ["Region == north"], "rest": []}})


def test_table_values_are_the_model_inputs_again(table: tuple[Any, pd.DataFrame]) -> None:
    """The value_ columns read back as the model's input frame: NaN for a missing number, "" for a missing category."""
    x = pd.DataFrame({"n": [1.5, np.nan, np.inf], "c": ["a", "", "b"]})
    columns = rows_table.value_columns(x, ["n", "c"], np.arange(3))
    layout = stored_result.RowsLayout(row_fields={}, ranked=False, features=["n", "c"], cat_features=["c"],
                                      target="y", values="table", dataset="d", dataset_version="v")
    back = stored_result.TableValues(pa.table(columns), layout).frame(slice(0, 3))
    assert back["c"].tolist() == ["a", "", "b"]
    assert back["n"].iloc[0] == 1.5 and np.isnan(back["n"].iloc[1]) and np.isinf(back["n"].iloc[2])
