"""A finished analysis as it is stored (docs/decisions/0020-results-stored-once-as-columns.md): its per-row parts
once, in the rows table (analysis.rows_table), and everything else in a small typed head; and the documented
JSON result (docs/api.md, "The result") written from the two, piece by piece, on demand.

The head holds the result's fields in order, every field's JSON value but the two per-row ones (`shap_values`
and `results`), and the layout that says how a `results` row is made from the table's columns. The JSON is
the one analysis.encoding writes of the in-memory result, byte for byte: the rows are made by the same
RowBuilder from the same values (tests/unit/analysis/test_stored_result.py). Pure: no Redis; the web imports it
(pandas, numpy, pyarrow, orjson only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
from pydantic import BaseModel, ConfigDict

from analysis import columnar, data_checks, rows_table
from analysis.encoding import OPTIONS, materialize
from analysis.features import feature_frame
from analysis.result import Result
from analysis.rows import RowBuilder

PER_ROW = ("shap_values", "results")  # the result's fields kept in the rows table, not in the head
CHUNK_ROWS = 2_000  # result rows built and written at a time: a piece of about 6 MB of JSON on the wide table
MULTICLASS_PROBABILITY = "probability"  # a multiclass row's probability: its explained class's probability_<class>


class RowsLayout(BaseModel):
    """How a `results` row is made from the rows table: its fields before `top_contributors` and the table
    column each is read from, whether it is ranked, which rows are out of the training range, and where the
    feature values (each row's top contributors' `value`) are: the table's value_ columns, or the dataset
    version's rows at the table's dataset_row positions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    row_fields: dict[str, str]  # the row's field -> its table column ("" for a multiclass probability)
    ranked: bool
    flags: dict[int, list[str]] = {}  # result row -> features out of the training range (data rows only)
    features: list[str]
    cat_features: list[str]
    classes: list[str] | None = None  # a classifier's classes (multiclass: the probability_ columns' order)
    target: str
    values: Literal["table", "dataset"]
    dataset: str
    dataset_version: str
    value_dtype: str = "float64"  # the model input's float type (float32 under AGGRESSIVE_MEMORY_MANAGEMENT)
    shap_dtype: str = "float64"  # the SHAP values' type as the result held them


class ResultHead(BaseModel):
    """The stored head of a result: its fields in order, the values of those not per row, and the rows' layout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fields: list[str]
    parts: dict[str, Any]
    layout: RowsLayout

    def small_fields(self) -> list[str]:
        return [name for name in self.fields if name not in PER_ROW]


def layout_of(result: Result, dataset_rows: bool) -> RowsLayout:
    """The layout of `result`'s rows (`dataset_rows`: their values are read from the dataset version). The
    categorical features are those the model read as text (analysis.features.feature_frame: the others are floats)."""
    columns, rows = result.shap_values, result.results
    row_fields = {}
    for name in rows.fields():
        if name == "explained_class":
            row_fields[name] = "predicted_class"
        elif name == "probability" and columns.probabilities is not None:
            row_fields[name] = ""
        elif name in rows_table.NOT_DATA:
            row_fields[name] = name
        else:
            row_fields[name] = rows_table.data_name(name)
    x = columns.frame
    assert x is not None
    text = [str(name) for name, dtype in x.dtypes.items() if not (isinstance(dtype, np.dtype) and dtype.kind == "f")]
    return RowsLayout(
        row_fields=row_fields, ranked=rows.ranked, flags=rows.flags_by_row(),
        features=list(columns.features), cat_features=text,
        classes=None if columns.classes is None else [str(c) for c in columns.classes], target=result.target_variable,
        values="dataset" if dataset_rows else "table", dataset=result.dataset,
        dataset_version=result.version_info.dataset_version,
        value_dtype=_float_dtype(x), shap_dtype=str(np.asarray(columns.values).dtype))


def _float_dtype(x: pd.DataFrame) -> str:
    kinds = {str(dtype) for dtype in x.dtypes if isinstance(dtype, np.dtype) and dtype.kind == "f"}
    return "float32" if kinds == {"float32"} else "float64"


def head_bytes(result: Result, layout: RowsLayout) -> bytes:
    """The head's JSON: the result's small fields encoded as analysis.encoding encodes them (orjson; a
    scenario's lazy SHAP columns materialized), read back and written again by the web unchanged."""
    fields, parts = [], {}
    for name, value in result.items():
        fields.append(name)
        if name not in PER_ROW:
            parts[name] = value
    return orjson.dumps({"fields": fields, "parts": parts, "layout": layout.model_dump(mode="json")},
                        default=materialize, option=OPTIONS)


def read_head(raw: bytes) -> ResultHead:
    return ResultHead.model_validate(orjson.loads(raw))


class RowValues(Protocol):
    """The model's input frame of some result rows (their feature values as the model read them)."""

    def frame(self, rows: slice) -> pd.DataFrame: ...


class TableValues:
    """Values stored in the table's value_ columns (rows the client sent), made a model input frame again:
    numbers in the model's float type (null: NaN), categories as text (null: "", as the model read it)."""

    def __init__(self, table: pa.Table, layout: RowsLayout) -> None:
        self.table, self.layout = table, layout

    def frame(self, rows: slice) -> pd.DataFrame:
        part = self.table.slice(rows.start, rows.stop - rows.start)
        categorical = set(self.layout.cat_features)
        columns: dict[str, Any] = {}
        for name in self.layout.features:
            column = part.column(f"value_{name}")
            if name in categorical:
                columns[name] = np.array(["" if v is None else v for v in column.to_pylist()], dtype=object)
            else:
                numbers = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
                columns[name] = numbers.astype(self.layout.value_dtype)
        return pd.DataFrame(columns)


class DatasetValues:
    """Values read from the dataset version's rows at the table's dataset_row positions, by the same
    analysis.features.feature_frame the worker's model read them with."""

    def __init__(self, frame: pd.DataFrame, positions: np.ndarray, layout: RowsLayout) -> None:
        self.dataset, self.positions, self.layout = frame, positions, layout

    def frame(self, rows: slice) -> pd.DataFrame:
        """feature_frame of the rows, its number columns converted as one block (a column at a time through
        pandas cost more than the rest of the JSON on the wide table; the values are the same: each number is
        converted alone either way)."""
        layout = self.layout
        picked = self.dataset.iloc[self.positions[rows]]
        categorical = set(layout.cat_features)
        dtypes = picked.dtypes.to_dict()
        numbers = [name for name in layout.features if name not in categorical
                   and isinstance(dtypes[name], np.dtype) and dtypes[name].kind in "fi"]
        x = pd.DataFrame(picked[numbers].to_numpy(dtype=layout.value_dtype), columns=numbers)
        others = [name for name in layout.features if name not in set(numbers)]
        if others:
            rest = feature_frame(picked, others, layout.cat_features, dtype=layout.value_dtype)
            for name in others:
                x[name] = rest[name].to_numpy()
            x = x[layout.features]
        return x


def positions(table: pa.Table) -> np.ndarray:
    return np.asarray(table.column(rows_table.DATASET_ROW).to_numpy(), dtype=np.int64)


def with_values(table: pa.Table, values: RowValues, layout: RowsLayout) -> pa.Table:
    """`table` with its value_ columns (read from `values` when it stores dataset_row positions instead)."""
    if rows_table.DATASET_ROW not in table.column_names:
        return table
    x = values.frame(slice(0, table.num_rows))
    added = rows_table.value_columns(x, layout.features, np.arange(table.num_rows))
    kept = table.drop_columns([rows_table.DATASET_ROW])
    return pa.table({**{name: kept.column(name) for name in kept.column_names}, **added})


def shap_block(table: pa.Table, features: list[str], rows: slice, dtype: str) -> np.ndarray:
    part = table.slice(rows.start, rows.stop - rows.start)
    if not features:
        return np.empty((part.num_rows, 0), dtype=dtype)
    return np.column_stack([part.column(f"shap_{name}").to_numpy() for name in features]).astype(dtype, copy=False)


def _row_columns(table: pa.Table, layout: RowsLayout, rows: slice) -> dict[str, Any]:
    """The per-row fields of `rows` as the worker's RowBuilder was given them (lists of the JSON's values)."""
    part = table.slice(rows.start, rows.stop - rows.start)
    out: dict[str, Any] = {}
    for name, column in layout.row_fields.items():
        if column == "":  # multiclass: the explained class's probability, from its probability_ column
            assert layout.classes is not None
            matrix = np.column_stack([part.column(f"probability_{c}").to_numpy() for c in layout.classes])
            chosen = [layout.classes.index(str(c)) for c in part.column("predicted_class").to_pylist()]
            out[name] = matrix[np.arange(part.num_rows), chosen]
        elif column == "raw_prediction":
            out[name] = part.column(column).to_numpy(zero_copy_only=False)
        else:
            out[name] = part.column(column).to_pylist()
    return out


def result_rows(table: pa.Table, values: RowValues, layout: RowsLayout, rows: slice,
                first: int = 0) -> list[dict[str, Any]]:
    """The `results` rows `rows` (positions of the table, whose first row is the result's row `first`), exactly
    as the worker's RowBuilder made them."""
    x = values.frame(rows)
    shap = shap_block(table, layout.features, rows, layout.shap_dtype)
    count = rows.stop - rows.start
    low, high = first + rows.start, first + rows.stop  # the result's own row numbers (rank, flags)
    position = np.arange(low + 1, high + 1, dtype=np.int64) if layout.ranked else None
    built = RowBuilder(_row_columns(table, layout, rows), x, layout.features, shap, position)(np.arange(count))
    if layout.flags:
        built = data_checks.flag(built, np.arange(low, high), layout.flags)
    return built


class PerRow(Protocol):
    """The rows table as the JSON result reads it: a column whole (`shap_values`), and the rows a part at a time
    with their feature values (`results`)."""

    def column(self, name: str) -> np.ndarray: ...

    def parts(self) -> Iterator[tuple[pa.Table, RowValues]]: ...


class WholeTable:
    """A rows table read whole, and its rows' values: one part."""

    def __init__(self, table: pa.Table, values: RowValues | None) -> None:
        self.table, self.values = table, values

    def column(self, name: str) -> np.ndarray:
        return self.table.column(name).to_numpy()

    def parts(self) -> Iterator[tuple[pa.Table, RowValues]]:
        assert self.values is not None
        yield self.table, self.values


class StoredStream:
    """A rows table as stored (its compressed Arrow IPC stream) read without decompressing it whole (issue 19:
    the web's memory): a SHAP column alone from the whole compressed stream (`read`, once; a reader's
    `included_fields` decompresses that column's buffers only), then the rows a record batch at a time from
    `open` (a file-like, e.g. read from Redis by ranges), with `values_of` the batch; the compressed stream is
    let go before the rows are read. Never the 110 MB a 100,000-row table takes decompressed."""

    def __init__(self, read: Callable[[], bytes | bytearray], open_stream: Callable[[], Any],
                 values_of: Callable[[pa.Table], RowValues]) -> None:
        self.read, self.open_stream, self.values_of = read, open_stream, values_of
        self.buffer: pa.Buffer | None = None

    def column(self, name: str) -> np.ndarray:
        if self.buffer is None:
            self.buffer = pa.py_buffer(self.read())
        schema = ipc.open_stream(self.buffer).schema
        return columnar.stream_column(self.buffer, schema, schema.get_field_index(name)).to_numpy()

    def parts(self) -> Iterator[tuple[pa.Table, RowValues]]:
        self.buffer = None  # the SHAP columns (written first) are done with it
        for batch in ipc.open_stream(self.open_stream(), options=ipc.IpcReadOptions(use_threads=False)):
            part = pa.Table.from_batches([batch])
            yield part, self.values_of(part)


def _results_pieces(rows: PerRow, layout: RowsLayout) -> Iterator[bytes]:
    """`results`, CHUNK_ROWS rows of a part at a time (the same bytes however the parts cut the rows: each row
    is written alone)."""
    yield b"["
    first = 0
    for part, values in rows.parts():
        for start in range(0, part.num_rows, CHUNK_ROWS):
            chunk = slice(start, min(start + CHUNK_ROWS, part.num_rows))
            body = orjson.dumps(result_rows(part, values, layout, chunk, first), option=OPTIONS)
            yield (b"," if first + start else b"") + body[1:-1]
        first += part.num_rows
    yield b"]"


def _shap_pieces(rows: PerRow, layout: RowsLayout) -> Iterator[bytes]:
    yield b"{"
    for position, name in enumerate(layout.features):
        column = rows.column(f"shap_{name}").astype(layout.shap_dtype, copy=False)
        yield (b"," if position else b"") + orjson.dumps(name) + b":" + orjson.dumps(column, option=OPTIONS)
    yield b"}"


def json_pieces(head: ResultHead, table: pa.Table | PerRow | None, values: RowValues | None = None,
                fields: list[str] | None = None) -> Iterator[bytes]:
    """The result's JSON object (only `fields`, in the result's order, when given), a piece at a time:
    a result row chunk or a SHAP column at most. `table` is the rows table whole (with `values`, its rows'
    values) or a PerRow (a StoredStream); both may be None when no per-row field is asked for."""
    rows = WholeTable(table, values) if isinstance(table, pa.Table) else table
    wanted = head.fields if fields is None else [name for name in head.fields if name in fields]
    yield b"{"
    for position, name in enumerate(wanted):
        yield (b"," if position else b"") + orjson.dumps(name) + b":"
        if name == "shap_values":
            assert rows is not None
            yield from _shap_pieces(rows, head.layout)
        elif name == "results":
            assert rows is not None
            yield from _results_pieces(rows, head.layout)
        else:
            yield orjson.dumps(head.parts[name], option=OPTIONS)
    yield b"}"


NOT_IDS = frozenset({"prediction", "raw_prediction", "predicted_class", "explained_class", "probability"})


def plot_rows(head: ResultHead, table: pa.Table) -> dict[str, Any]:
    """What the plot routes need of the rows, in the form builds before the head stored it apart
    (analysis.feature_values.encode_rows): `{"ids": {column: [...]}, "explained_class": [...] | null, "classes":
    [...] | null, "interaction_pairs": [[feature, with], ...] | null, "target": name}`."""
    layout = head.layout
    ids = {name: table.column(column).to_pylist() for name, column in layout.row_fields.items()
           if name != layout.target and name not in NOT_IDS}
    explained = table.column("predicted_class").to_pylist() if "explained_class" in layout.row_fields else None
    interactions = head.parts.get("interactions")
    pairs = None if interactions is None else [[pair["feature"], pair["with"]] for pair in interactions["pairs"]]
    return {"ids": ids, "explained_class": explained, "classes": layout.classes, "interaction_pairs": pairs,
            "target": layout.target}
