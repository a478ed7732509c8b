"""The explained rows as one Arrow table, what `GET /job_status/<id>/rows` serves (docs/api.md, "The rows
table"): a row per explained row in the order of the result's `results`, with the columns

    row, <id columns>, <target>, prediction, raw_prediction,
    predicted_class, probability               (binary: probability of the positive class)
    predicted_class, probability_<class>...    (multiclass: one per class)
    shap_<feature>...                          (float64: the stored values are the JSON's, losslessly)
    value_<feature>...                         (the row's feature values as the model read them)

A dataset column (an id column or the target) whose name is one of the service's (`row`, `prediction`,
`raw_prediction`, `predicted_class`, `probability`, or starting with `probability_`, `shap_`, `value_`)
is shown as `data_<name>` (again until the name is free). The worker builds the table once and stores its
Arrow IPC stream (`to_ipc`); the web reads it back (`from_ipc`) and cuts it to the request. Pure: no Redis.

Stored once (docs/decisions/0020-results-stored-once-as-columns.md): when the explained rows are the dataset's
own, the stored table has no value_ columns but `dataset_row` (each row's position in the pinned dataset
version), and the values are read from that version when asked for (analysis.stored_result.DatasetValues);
rows the client sent keep their value_ columns in the table."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from analysis.explained import ResultRows, ShapColumns
from analysis.result import Result

DATASET_ROW = "dataset_row"  # stored only (module docstring): never served
SERVICE_COLUMNS = frozenset({"row", DATASET_ROW, "prediction", "raw_prediction", "predicted_class", "probability"})
SERVICE_PREFIXES = ("probability_", "shap_", "value_")
NOT_DATA = frozenset({"prediction", "raw_prediction", "predicted_class", "explained_class", "probability"})
# LZ4: measured on 10,000 wide rows (21.7 MB of columns), 11.7 MB in 0.08 s; zstd 11.1 MB in 1.2 s; none 0.29 s
COMPRESSION = "lz4"


def is_service_name(name: str) -> bool:
    return name in SERVICE_COLUMNS or name.startswith(SERVICE_PREFIXES)


def data_name(name: str) -> str:
    """A dataset column's name in the table (module docstring: the clash rule)."""
    while is_service_name(name):
        name = f"data_{name}"
    return name


def _array(values: Any) -> pa.Array:
    """A column from numbers or Python objects; mixed objects pyarrow cannot type become their text."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _row_columns(rows: ResultRows, target: str) -> dict[str, pa.Array]:
    """The dataset's columns the rows show (ids, target) and the predictions, in the results' order."""
    fields = rows.fields()
    out: dict[str, pa.Array] = {}
    for name in fields:
        if name not in NOT_DATA:
            out[data_name(name)] = _array(rows.column(name))
    out["prediction"] = _array(rows.column("prediction"))
    out["raw_prediction"] = pa.array(rows.column("raw_prediction"), type=pa.float64())
    if "predicted_class" in fields:  # binary
        out["predicted_class"] = _array(rows.column("predicted_class"))
        out["probability"] = pa.array(rows.column("prediction"), type=pa.float64())
    elif "explained_class" in fields:  # multiclass: the class explained is the predicted one
        out["predicted_class"] = _array(rows.column("explained_class"))
    return out


def _probabilities(columns: ShapColumns) -> dict[str, pa.Array]:
    if columns.probabilities is None or columns.classes is None:
        return {}
    ordered = columns.probabilities[columns.order]
    return {f"probability_{cls}": pa.array(ordered[:, k], type=pa.float64()) for k, cls in enumerate(columns.classes)}


def value_columns(x: pd.DataFrame, features: list[str], order: np.ndarray) -> dict[str, pa.Array]:
    """value_<feature> of the rows of `x` (the model's input frame) taken in `order`: numbers as the model read
    them (NaN as null), categories as text ("" as null). The numeric columns are reordered as one block and
    transposed once, so each is one contiguous copy."""
    numeric = [i for i, dtype in enumerate(x.dtypes) if isinstance(dtype, np.dtype) and dtype.kind == "f"]
    out: dict[int, pa.Array] = {}
    if numeric:
        block = np.ascontiguousarray(x.iloc[:, numeric].to_numpy(dtype=np.float64)[order].T)
        out |= {i: pa.array(block[k], type=pa.float64(), from_pandas=True) for k, i in enumerate(numeric)}
    for i in sorted(set(range(x.shape[1])) - set(numeric)):
        text = pd.Series(x.iloc[:, i].to_numpy(dtype=object)[order], dtype=object).replace("", None)
        out[i] = _array(text.to_numpy(dtype=object))
    return {f"value_{name}": out[i] for i, name in enumerate(features)}


def _shap(columns: ShapColumns) -> dict[str, pa.Array]:
    """shap_<feature>: the matrix reordered once (unless the rows are in order already) and transposed, one
    contiguous float64 column per feature."""
    by_feature = columns.feature_major()  # the copy the effect shapes read, when the worker made them
    rows = by_feature.shape[1]
    in_order = len(columns.order) == rows and bool((columns.order == np.arange(rows)).all())
    block = by_feature if in_order else by_feature[:, columns.order]  # no gather: 5x less at 100k
    return {f"shap_{name}": pa.array(block[k], type=pa.float64()) for k, name in enumerate(columns.features)}


def build(result: Result, dataset_rows: np.ndarray | None = None) -> pa.Table:
    """The rows table of `result` (module docstring); with `dataset_rows` (the explained frame's rows' positions
    in the dataset version) it stores those positions instead of the value_ columns."""
    columns = result.shap_values
    table: dict[str, pa.Array] = {"row": pa.array(np.arange(len(columns.order), dtype=np.int64))}
    table |= _row_columns(result.results, result.target_variable)
    table |= _probabilities(columns)
    table |= _shap(columns)
    if dataset_rows is not None:
        table[DATASET_ROW] = pa.array(np.asarray(dataset_rows)[columns.order].astype(np.int32))
    elif columns.frame is not None:
        table |= value_columns(columns.frame, columns.features, columns.order)
    return pa.table(table)


BATCH_ROWS = 10_000  # rows per record batch: the web reads a stored table a batch at a time


def _write(sink: pa.NativeFile, table: pa.Table, compression: str | None) -> None:
    options = ipc.IpcWriteOptions(compression=compression, use_threads=False)
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=BATCH_ROWS)


def _bound(table: pa.Table) -> int:
    """At least the bytes of the compressed stream: the uncompressed stream's size (measured by writing it to a
    counting sink, which copies nothing) plus LZ4's worst case: n/255 over all the bytes, and per buffer of each
    record batch a frame header and end mark, the 8-byte length Arrow writes before it and its metadata entry."""
    counter = pa.MockOutputStream()
    _write(counter, table, None)
    batches = table.to_batches(max_chunksize=BATCH_ROWS)  # as _write cuts it (views: nothing is copied)
    buffers = sum(len(column.buffers()) for batch in batches for column in batch.columns)
    return counter.size() + counter.size() // 255 + 128 * (buffers + len(batches)) + 2**16


def to_ipc(table: pa.Table) -> memoryview:
    """The table's Arrow IPC stream, its buffers compressed (COMPRESSION), written on one thread into one buffer
    allocated at its bound up front: a growing stream reallocated and copied itself about 20 times on its way
    to 78 MB (0.55 s of a 100,000-row result's 1.1 s; 0.17 s this way: bench/RESULTS.md). The view is handed
    to Redis as it is (no copy into a bytes object)."""
    buffer = pa.allocate_buffer(_bound(table))
    sink = pa.FixedSizeBufferWriter(buffer)
    _write(sink, table, COMPRESSION)
    return memoryview(buffer)[: sink.tell()]


def from_ipc(data: bytes | memoryview, columns: list[str] | None = None) -> pa.Table:
    """The stored table, or only `columns` of it (each record batch is read whole, then cut)."""
    table = ipc.open_stream(pa.py_buffer(data)).read_all()
    return table if columns is None else table.select(columns)


def features_of(table: pa.Table) -> list[str]:
    """The model's features, in the result's `shap_values` order (the table's shap_ columns)."""
    return [name[len("shap_"):] for name in table.column_names if name.startswith("shap_")]


def shap_matrix(table: pa.Table, features: list[str]) -> np.ndarray:
    """(rows, features) float64 SHAP values, rows in the results' order."""
    if not features:
        return np.empty((table.num_rows, 0))
    return np.column_stack([table.column(f"shap_{name}").to_numpy() for name in features])


def feature_values(table: pa.Table, features: list[str]) -> dict[str, list[Any]]:
    """feature -> the rows' values as GET .../feature_values shows them (missing: None)."""
    return {name: table.column(f"value_{name}").to_pylist() for name in features}


def feature_values_json(table: pa.Table, job_id: str) -> bytes:
    """GET /job_status/<id>/feature_values's answer, made from the rows table with its value_ columns (no second
    stored copy): `{"success", "job_id", "features", "values": {feature: [value per row]}}`; NaN and infinities
    as null."""
    features = features_of(table)
    return orjson.dumps({"success": True, "job_id": job_id, "features": features,
                         "values": feature_values(table, features)})
