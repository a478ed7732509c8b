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
from store import dataset_store
from store.frame_cache import FrameCache


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
    stream: bytes | None = None  # the stored Arrow IPC stream, when the rows are read a record batch at a time

    def batches(self) -> Iterator[pa.Table]:
        """The stored rows a record batch (rows_table.BATCH_ROWS) at a time, each decompressed when it is
        reached: the whole table is never held (a 100,000-row one is about 110 MB uncompressed)."""
        if self.stream is None:
            yield self.table
            return
        for batch in ipc.open_stream(pa.py_buffer(self.stream)):
            yield pa.Table.from_batches([batch])

    def whole(self) -> StoredRows:
        """These rows with the whole table read (for an answer that sorts or samples them)."""
        if self.stream is None:
            return self
        return StoredRows(rows_table.from_ipc(self.stream), self.head, self.dataset)

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
    `by_batch`: the table is not read whole, only its schema (StoredRows.batches reads the rows)."""
    found = head(client, job_id)
    if found is not None:
        return rows(client, frames, job_id, found, by_batch)
    raw: Any = client.get(keys.job_rows_table(job_id))
    return None if raw is None else _stored(raw, None, by_batch)


def rows(client: redis.Redis, frames: FrameCache, job_id: str, found: ResultHead,
         by_batch: bool = False) -> StoredRows | None:
    """The rows of a result whose head is `found`; None when they expired."""
    raw: Any = client.get(keys.job_rows_table(job_id))
    if raw is None:
        return None
    stored = _stored(raw, found, by_batch)
    del raw  # read whole: the compressed bytes are not kept beside the table
    layout = found.layout
    if layout.values == "table":
        return stored
    return replace(stored, dataset=_dataset_frame(client, frames, layout.dataset, layout.dataset_version, job_id))


def _stored(raw: bytes, found: ResultHead | None, by_batch: bool) -> StoredRows:
    if by_batch:
        return StoredRows(ipc.open_stream(pa.py_buffer(raw)).schema.empty_table(), found, stream=raw)
    return StoredRows(rows_table.from_ipc(raw), found)


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
