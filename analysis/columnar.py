"""Datasets in a binary columnar form (pyarrow): the Arrow IPC stream a dataset is stored as in Redis, so a
job reads columns instead of re-parsing CSV text, and Parquet uploads.

The stored form is written once, at upload, from the frame the upload was validated as (CSV or Parquet),
and read back to exactly that frame (`datasets.normalised` applied both ways). Pure: no Redis."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pyarrow.types as pat

from analysis.dataset_meta import DatasetMeta
from analysis.datasets import MAX_COLUMNS, STORAGE, normalised
from common.errors import InvalidDataset, shown

BATCH_ROWS = 65536  # rows per record batch: a reader's peak is a batch, not a second copy of the table
PARQUET_MAGIC = b"PAR1"
PARQUET_EXPANSION = 64  # most uncompressed bytes a Parquet upload may declare per byte sent


def to_arrow(frame: pd.DataFrame) -> bytes:
    """The Arrow IPC stream of a validated frame, its buffers LZ4-compressed: measured on the wide table and
    the 100k x 30 one, half the bytes of uncompressed buffers for a few ms more per read, where zstd
    took a third of the bytes but twice the read time (a job reads the dataset; Redis holds it once)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    # one thread: a worker parent writes `default` before it forks (threaded compression starts Arrow's pool)
    options = ipc.IpcWriteOptions(compression="lz4", use_threads=False)
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=BATCH_ROWS)
    return sink.getvalue().to_pybytes()


def from_arrow(data: bytes) -> pd.DataFrame:
    """The frame `to_arrow` was given, with the service's column rules (text columns as objects, None missing)."""
    # One thread: a worker parent reads `default` before it forks, and Arrow's thread pool need not exist then
    reader = ipc.open_stream(pa.py_buffer(data), options=ipc.IpcReadOptions(use_threads=False))
    return normalised(reader.read_all().to_pandas(use_threads=False))


def frame_of_stored(meta: DatasetMeta, data: bytes) -> pd.DataFrame:
    """A stored dataset's frame: the Arrow form, or the CSV text of a dataset stored before it existed."""
    from analysis.datasets import parse_csv

    # the codec is in the stream itself, so any "arrow-ipc..." storage (zstd before LZ4) reads alike
    if (meta.storage or "").startswith(STORAGE):
        return from_arrow(data)
    return parse_csv(data, meta.id_columns)


def is_parquet(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC


def _scalar_columns(schema: pa.Schema) -> pa.Schema:
    """Numbers, booleans and text as they are; dates and times as ISO text (as a CSV would carry them);
    anything nested or binary is refused by name."""
    fields = []
    refused = []
    for field in schema:
        kind = field.type.value_type if pat.is_dictionary(field.type) else field.type
        if pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind) or pat.is_string(kind) \
                or pat.is_large_string(kind):
            fields.append(field)
        elif pat.is_temporal(kind) or pat.is_decimal(kind):
            fields.append(pa.field(field.name, pa.string() if pat.is_temporal(kind) else pa.float64()))
        else:
            refused.append(f"{shown(field.name, quoted=False)} ({field.type})")
    if refused:
        raise InvalidDataset(f"The Parquet file has columns of types the service cannot explain: {refused[:20]}; "
                             "send numbers, booleans, text, dates or times.")
    return pa.schema(fields)


def read_parquet(data: bytes, max_rows: int) -> pd.DataFrame:
    """A Parquet upload as a frame, its size checked from the file's own metadata before it is read."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidDataset(f"The body is not a readable Parquet file: {str(exc)[:200]}") from None
    info = parquet.metadata
    if info.num_columns > MAX_COLUMNS:
        raise InvalidDataset(f"The Parquet file has {info.num_columns} columns; at most {MAX_COLUMNS} are allowed.")
    if info.num_rows > max_rows:
        raise InvalidDataset(f"The Parquet file has {info.num_rows} rows; at most {max_rows} (MAX_ROWS) are allowed.")
    declared = sum(info.row_group(i).total_byte_size for i in range(info.num_row_groups))
    if declared > PARQUET_EXPANSION * len(data):
        raise InvalidDataset(f"The Parquet file declares {declared} bytes of data in {len(data)} bytes; "
                             "send it with less extreme compression.")
    try:
        table = parquet.read().cast(_scalar_columns(parquet.schema_arrow))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidDataset(f"The Parquet file could not be read: {str(exc)[:200]}") from None
    return normalised(table.to_pandas())
