"""A finished analysis's stored result (docs/decisions/0020-results-stored-once-as-columns.md): its rows table
(keys.job_rows_table, analysis.rows_table) and its head (keys.job_result_head, analysis.stored_result), written
together by the worker for RESULT_TTL, read by the web (the JSON result, /rows, /feature_values) and the plot
renders. A result whose rows are the dataset's own reads their feature values from the dataset version it
explained, which is kept while results reference it (store.dataset_store.release)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import redis

from analysis import rows_table, stored_result
from analysis.stored_result import ResultHead, RowValues
from common import keys
from common.errors import Gone
from store import dataset_store, ranged
from store.frame_cache import FrameCache
from store.ranged import RangeSource, ValueGone


def save(client: redis.Redis, job_id: str, head: bytes, table: bytes | memoryview, ttl: int) -> None:
    with client.pipeline(transaction=True) as pipe:
        pipe.set(keys.job_rows_table(job_id), table, ex=ttl)
        pipe.set(keys.job_result_head(job_id), head, ex=ttl)
        pipe.execute()


def head(client: redis.Redis, job_id: str) -> ResultHead | None:
    """The stored head; None for a result stored by an earlier build (its whole JSON under keys.job_result),
    a training job's, or one that expired."""
    raw: Any = client.get(keys.job_result_head(job_id))
    return None if raw is None else stored_result.read_head(raw)


@dataclass(frozen=True)
class StoredRows:
    """The stored rows table (no value_ columns when its rows are the dataset's: `dataset` is then the frame of
    the version they are from) and the result's head."""

    table: pa.Table  # empty (its schema only) when read by batches: `stream` holds the rows then
    head: ResultHead | None  # None: a table an earlier build stored beside its JSON result (its values inside)
    dataset: pd.DataFrame | None = None
    stream: bytes | RangeSource | None = None  # the stored Arrow IPC stream (or where it is read by ranges)

    def _reader(self) -> ipc.RecordBatchStreamReader:
        assert self.stream is not None
        source = pa.py_buffer(self.stream) if isinstance(self.stream, bytes) else self.stream.open()
        return ipc.open_stream(source, options=ipc.IpcReadOptions(use_threads=False))

    def batches(self) -> Iterator[pa.Table]:
        """The stored rows a record batch (rows_table.BATCH_ROWS) at a time, each read (by ranges, from Redis)
        and decompressed when it is reached: the whole table is never held (a 100,000-row one is about 110 MB
        uncompressed, 84 MB stored)."""
        if self.stream is None:
            yield self.table
            return
        for batch in self._reader():
            yield pa.Table.from_batches([batch])

    def whole(self) -> StoredRows:
        """These rows with the whole table read (for an answer that sorts or samples them)."""
        if self.stream is None:
            return self
        return StoredRows(self._reader().read_all(), self.head, self.dataset)

    def values(self, table: pa.Table | None = None) -> RowValues:
        """The feature values of the rows of `table` (the stored table, or rows cut from it)."""
        table = self.table if table is None else table
        assert self.head is not None
        if self.dataset is None:
            return stored_result.TableValues(table, self.head.layout)
        return stored_result.DatasetValues(self.dataset, stored_result.positions(table), self.head.layout)

    def with_values(self, table: pa.Table | None = None) -> pa.Table:
        """`table` (the stored one, or rows cut from it) as GET .../rows serves it: value_ columns in, the stored
        positions out."""
        table = self.table if table is None else table
        if self.head is None:
            return table
        return stored_result.with_values(table, self.values(table), self.head.layout)


def any_rows(client: redis.Redis, frames: FrameCache, job_id: str, by_batch: bool = False) -> StoredRows | None:
    """The rows table of a finished analysis, of this build or an earlier one; None when there is none.
    `by_batch`: the table is read by ranges a record batch at a time (StoredRows.batches), only its schema now."""
    found = head(client, job_id)
    if found is not None:
        return rows(client, frames, job_id, found, by_batch)
    return _stored(client, keys.job_rows_table(job_id), None, by_batch)


def rows(client: redis.Redis, frames: FrameCache, job_id: str, found: ResultHead,
         by_batch: bool = False) -> StoredRows | None:
    """The rows of a result whose head is `found`; None when they expired."""
    stored = _stored(client, keys.job_rows_table(job_id), found, by_batch)
    if stored is None or found.layout.values == "table":
        return stored
    layout = found.layout
    return replace(stored, dataset=_dataset_frame(client, frames, layout.dataset, layout.dataset_version, job_id))


def per_row(client: redis.Redis, frames: FrameCache, job_id: str, found: ResultHead
            ) -> stored_result.StoredStream | None:
    """The rows of a result whose head is `found` as its JSON result reads them (analysis.stored_result
    .StoredStream: the SHAP columns from the compressed stream, read by ranges into one buffer; then the rows a
    record batch at a time, read by ranges); None when they expired. A table that expires while the answer
    is sent cuts it (ranged.ValueGone), as /rows."""
    key = keys.job_rows_table(job_id)
    source = ranged.source(client, key)
    if source is None:
        return None
    layout = found.layout
    dataset = (None if layout.values == "table"
               else _dataset_frame(client, frames, layout.dataset, layout.dataset_version, job_id))
    schema_only = StoredRows(pa.table({}), found, dataset)
    if source.complete:  # the wide table's 1.8 MB: one round trip in all
        whole = source.first
        return stored_result.StoredStream(lambda: whole, lambda: pa.BufferReader(whole), schema_only.values)

    def read() -> bytearray:
        data = ranged.read(client, key)
        if data is None:
            raise ValueGone(f"{key} expired while it was being read")
        return data

    return stored_result.StoredStream(read, source.open, schema_only.values)


def _stored(client: redis.Redis, key: str, found: ResultHead | None, by_batch: bool) -> StoredRows | None:
    """The rows table at `key` read whole, or (`by_batch`) its schema and where to read its rows by ranges."""
    if not by_batch:
        raw: Any = client.get(key)
        return None if raw is None else StoredRows(rows_table.from_ipc(raw), found)
    source = ranged.source(client, key)
    if source is None:
        return None
    if source.complete:  # one round trip: a small table (the wide table's 1.8 MB)
        # is answered whole, with its length, as before decision 0025: sent by batch, 16 clients' reads of it
        # went from 98 to 42-48 a second (bench/RESULTS.md), and one batch is the whole of it anyway
        return StoredRows(rows_table.from_ipc(source.first), found)
    try:
        schema = ipc.open_stream(source.open()).schema
    except ValueGone:  # since its STRLEN
        return None
    return StoredRows(schema.empty_table(), found, stream=source)


def _dataset_frame(client: redis.Redis, frames: FrameCache, name: str, version: str, job_id: str) -> pd.DataFrame:
    """The dataset version the result explained (the dataset itself, the copy a replace kept, or another
    dataset name that holds the same version); Gone, saying why, when none is stored any more."""
    try:
        return frames.get_version(client, name, version)[1]
    except dataset_store.VersionGone:
        for meta in dataset_store.list_all(client):
            if meta.version == version:
                return frames.get(client, meta.name)[1]
    raise Gone(f"Job {job_id!r} explained rows of dataset {name!r} version {version}, which is no longer stored "
               "(it was replaced or deleted), so the rows' feature values cannot be read; submit the analysis "
               "again.")
