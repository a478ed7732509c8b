"""GET /job_status/<id>/rows: the stored rows table (analysis.rows_table) cut to the request's columns and rows,
in the format the client asks for by `format=` or `Accept`: Arrow IPC stream (the default), CSV, Parquet or
columnar JSON. Every format is written by pyarrow's own writers (JSON: orjson of the columns).

Memory (issue 19: the web serving 100,000-row results): an Arrow or CSV answer that neither sorts nor samples
is read from Redis by ranges (store.ranged), given its value_ columns, written and sent a stored record batch
(10,000 rows) at a time, so the web holds one batch, never the stored stream, the whole table nor the whole
answer; a JSON answer is written a column at a time. Sorting, sampling and Parquet need the whole table."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from flask import Response

from analysis import rows_table
from common import memory
from common.errors import InvalidRequest, NotAcceptable, shown
from store.result_store import StoredRows
from web.api_models import RowsQuery

ARROW = "application/vnd.apache.arrow.stream"
FORMATS = {"arrow": ARROW, "csv": "text/csv", "parquet": "application/vnd.apache.parquet", "json": "application/json"}
NAMES_SHOWN = 20


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _csv(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink)
    return sink.getvalue().to_pybytes()


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _json(table: pa.Table) -> Iterator[bytes]:
    """Columnar JSON, column name to list; NaN and infinities as null (orjson); a column at a time (all of them
    as Python lists at once were several times the table's size)."""
    yield b"{"
    for position, name in enumerate(table.column_names):
        yield (b"," if position else b"") + orjson.dumps(name) + b":" + orjson.dumps(table.column(name).to_pylist())
    yield b"}"


WRITERS: dict[str, Callable[[pa.Table], bytes | Iterator[bytes]]] = {
    "arrow": _ipc, "csv": _csv, "parquet": _parquet, "json": _json}
STREAMED = frozenset({"arrow", "csv"})  # written a record batch at a time (module docstring)


def streamed(query: RowsQuery, format_name: str) -> bool:
    """Whether the answer is read and written a stored record batch at a time: no sort or sample needs the whole
    table, and the format is written in batches."""
    return format_name in STREAMED and query.sort is None and query.sample is None


def _written(format_name: str, parts: Iterable[pa.Table], schema: pa.Schema) -> Iterator[bytes]:
    """`parts` (tables of `schema`) written as one Arrow IPC stream or one CSV, the bytes of each part sent once
    it is written."""
    sink = io.BytesIO()
    writer = ipc.new_stream(sink, schema) if format_name == "arrow" else pa_csv.CSVWriter(sink, schema)
    for part in parts:
        writer.write_table(part.cast(schema))
        yield sink.getvalue()
        sink.seek(0)
        sink.truncate()
    writer.close()
    yield sink.getvalue()


def negotiate(query: RowsQuery, accept: Mapping[str, float] | None) -> str:
    """The answer's format: `format=` when given, else the best of Accept that is one of FORMATS (*/* or no
    Accept: Arrow); anything else is a 406 listing the formats."""
    if query.format is not None:
        return query.format
    if accept is None:
        return "arrow"
    ranked = sorted(((quality, mime) for mime, quality in accept.items() if quality > 0), reverse=True)
    for _, mime in ranked:
        if mime in ("*/*", "application/*"):
            return "arrow"
        for name, media in FORMATS.items():
            if mime == media:
                return name
    raise NotAcceptable(f"The rows can be sent as {list(FORMATS.values())} (Accept), or chosen with "
                        f"format={'|'.join(FORMATS)}; none of them is acceptable to this request.",
                        details={"formats": FORMATS})


def _picked(names: list[str], asked: str | None) -> list[str]:
    """The columns asked for, in the table's order, `row` first; prefixes end in *."""
    if asked is None:
        return [name for name in names if not name.startswith("value_")]
    wanted = [part.strip() for part in asked.split(",") if part.strip()]
    unknown = [part for part in wanted if not any(_matches(name, part) for name in names)]
    if unknown or not wanted:
        listed = [shown(part, quoted=False) for part in unknown[:NAMES_SHOWN]]
        raise InvalidRequest(f"columns names {listed}, which the rows do not have (or none); name columns or "
                             f"prefixes ending in * among {names[:NAMES_SHOWN]}...",
                             details={"unknown_columns": listed})
    return ["row", *[name for name in names if name != "row" and any(_matches(name, part) for part in wanted)]]


def _matches(name: str, part: str) -> bool:
    return name.startswith(part[:-1]) if part.endswith("*") else name == part


def _rows(table: pa.Table, query: RowsQuery) -> pa.Table:
    """Sample (uniform, seeded, kept in order), then sort, then offset and limit."""
    if query.sample is not None and query.sample < table.num_rows:
        picked = np.sort(np.random.default_rng(query.seed).choice(table.num_rows, query.sample, replace=False))
        table = table.take(pa.array(picked))
    if query.sort is not None:
        if query.sort not in table.column_names:
            raise InvalidRequest(f"sort names {shown(query.sort)}, which the rows do not have; sort by one of "
                                 f"{table.column_names[:NAMES_SHOWN]}...")
        order = "ascending" if query.order == "asc" else "descending"
        table = table.take(pc.sort_indices(table, sort_keys=[(query.sort, order, "at_end")]))
    end = None if query.limit is None else query.offset + query.limit
    return table.slice(query.offset, None if end is None else max(0, end - query.offset))


@dataclass(frozen=True)
class RowsAnswer:
    body: bytes | Iterator[bytes]  # an iterator: sent as it is written
    mimetype: str

    def response(self) -> Response:
        response = Response(self.body, mimetype=self.mimetype)
        response.headers["Vary"] = "Accept"
        return response


def _public_names(stored: StoredRows) -> list[str]:
    """The columns the rows have as they are served: the stored ones, with value_ columns for stored positions."""
    names = [name for name in stored.table.column_names if name != rows_table.DATASET_ROW]
    if stored.head is not None and rows_table.DATASET_ROW in stored.table.column_names:
        names += [f"value_{name}" for name in stored.head.layout.features]
    return names


def _batches(stored: StoredRows, query: RowsQuery, picked: list[str]) -> Iterator[pa.Table]:
    """The rows `offset`/`limit` keep, a stored record batch at a time, with their value_ columns when one is
    picked, cut to `picked`; batches past the limit are not read."""
    values = any(name.startswith("value_") for name in picked)
    end = None if query.limit is None else query.offset + query.limit
    first = 0
    for batch in stored.batches():
        if end is not None and first >= end:
            return
        low = max(query.offset - first, 0)
        high = batch.num_rows if end is None else min(end - first, batch.num_rows)
        first += batch.num_rows
        if high > low:
            part = batch.slice(low, high - low)
            yield (stored.with_values(part) if values else part).select(picked)


def _schema(schema: pa.Schema) -> pa.Schema:
    """A batch's schema with a column it has no value in (null type: a text feature's value_ column) as text,
    which that column's values in other batches are."""
    return pa.schema([field.with_type(pa.string()) if field.type == pa.null() else field for field in schema])


def answer(stored: StoredRows, query: RowsQuery, format_name: str) -> RowsAnswer:
    """The stored rows cut to `query`, written as `format_name`. Values read from the dataset version are read
    only when a value_ column is asked for, and only for the rows the query keeps (all of them to sort by one)."""
    picked = _picked(_public_names(stored), query.columns)
    if stored.stream is not None and streamed(query, format_name):
        parts = _batches(stored, query, picked)
        first = next(parts, None)
        if first is not None:
            pieces = _written(format_name, chain([first], parts), _schema(first.schema))
            return RowsAnswer(memory.released_after(pieces), FORMATS[format_name])
    stored = stored.whole()
    table = stored.table
    if query.sort is not None and query.sort.startswith("value_"):
        table = stored.with_values(table)
    table = _rows(table, query)
    if any(name.startswith("value_") for name in picked):
        table = stored.with_values(table)
    body = WRITERS[format_name](table.select(picked))
    if isinstance(body, bytes):
        memory.ANSWERS.add(len(body))
        return RowsAnswer(body, FORMATS[format_name])
    return RowsAnswer(memory.released_after(body), FORMATS[format_name])
