"""Datasets in a binary columnar form (pyarrow): the Arrow IPC stream a dataset is stored as in Redis, so a
job reads columns instead of re-parsing CSV text, and Parquet uploads.

The stored form is written once, at upload, from the frame the upload was validated as (CSV or Parquet),
and read back to exactly that frame (`datasets.normalised` applied both ways). Pure: no Redis."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pyarrow.types as pat
from pandas.arrays import NumpyExtensionArray

from analysis import names as name_rule
from analysis import parquet_pages
from analysis.dataset_meta import DatasetMeta
from analysis.datasets import CELL_BYTES, MAX_COLUMNS, STORAGE, check_decoded_size, normalised
from analysis.names import MAX_COLUMN_NAME_CHARS
from common.errors import InvalidDataset, shown

BATCH_ROWS = 65536  # rows per record batch: a reader's peak is a batch, not a second copy of the table
PARQUET_MAGIC = b"PAR1"
PARQUET_EXPANSION = 64  # most uncompressed bytes a Parquet upload may declare per byte sent
DECODE_ROWS = 4096  # rows a Parquet upload is decoded by, its decoded size checked after each
TEMPORAL_TEXT_BYTES = 40  # the longest ISO text a date or time becomes (analysis.datasets counts it as text)
THRIFT_LIMIT = 16 * 2**20  # most bytes (strings) or entries (lists) of the file's metadata pyarrow will read
# the bytes an entry of a dictionary page takes once Arrow's decoder has read it (a text entry is its length and
# a pointer into the page; a fixed-length one, a pointer), by the column's Parquet physical type
DICTIONARY_ENTRY_BYTES = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12,
                          "BYTE_ARRAY": 16, "FIXED_LEN_BYTE_ARRAY": 8}
# pages read per upload: a header is read in ~20 us of Python, so a file of millions of tiny pages would hold a
# core for minutes; honest writers fill pages of ~1 MB or 20,000 rows (a dictionary page, a few data pages)
MAX_PAGES, PAGES_PER_CHUNK = 100_000, 4
PAGES = "pages once decompressed (the sizes their own headers declare)"
DICTIONARIES = "dictionary entries once decoded (the counts their dictionary pages declare)"


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


def from_arrow(data: bytes | bytearray) -> pd.DataFrame:
    """The frame `to_arrow` was given, with the service's column rules (text columns as objects, None missing)."""
    # One thread: a worker parent reads `default` before it forks, and Arrow's thread pool need not exist then
    reader = ipc.open_stream(pa.py_buffer(data), options=ipc.IpcReadOptions(use_threads=False))
    return normalised(reader.read_all().to_pandas(use_threads=False))


def stream_column(buffer: pa.Buffer, schema: pa.Schema, position: int) -> pa.ChunkedArray:
    """Column `position` of the Arrow IPC stream in `buffer` (whose schema is `schema`), every record batch's
    piece of it: only that column's buffers are decompressed (the reader's `included_fields`), on one thread."""
    options = ipc.IpcReadOptions(included_fields=[position], use_threads=False)
    return pa.chunked_array([batch.column(0) for batch in ipc.open_stream(buffer, options=options)],
                            type=schema.field(position).type)


def from_arrow_by_column(data: bytes | bytearray) -> pd.DataFrame:
    """`from_arrow`'s frame (equal values, dtypes and names), decoded a column at a time into the frame's own
    blocks: the whole table is never decompressed beside the frame. from_arrow holds the decompressed table
    and the frame at once (a 100,000 x 135 dataset, a 103 MB frame, grew a process by 242 MB; this, by about
    the frame). For the web, whose peak while serving large results it was (store.frame_cache)."""
    from pandas.api.internals import create_dataframe_from_blocks

    buffer = pa.py_buffer(data)
    schema = ipc.open_stream(buffer).schema
    numbers = sum(1 for field in schema if pat.is_floating(field.type) or pat.is_integer(field.type))
    blocks: dict[str, _Block] = {}
    others: list[tuple[Any, np.ndarray]] = []
    rows = 0
    for position in range(len(schema)):
        column = stream_column(buffer, schema, position)
        values = column.to_pandas(use_threads=False).array  # no Arrow thread pool (from_arrow says why)
        del column
        rows = len(values)
        kind = values.dtype.numpy_dtype if isinstance(values, NumpyExtensionArray) else None
        if kind is not None and kind.kind in "fi":  # numbers share one block per dtype, as to_pandas makes them
            block = blocks.setdefault(kind.str, _Block(np.empty((numbers, rows), dtype=kind)))
            block.add(values.to_numpy(), position)
        else:
            others.append((values if kind is None else values.to_numpy().reshape(1, -1), np.array([position])))
    parts = [(block.values[:len(block.placement)], np.array(block.placement)) for block in blocks.values()]
    columns = schema.empty_table().to_pandas(use_threads=False).columns
    return normalised(create_dataframe_from_blocks([*parts, *others], pd.RangeIndex(rows), columns))


class _Block:
    """A frame's block of one number dtype, filled a column at a time (rows past the last filled are never
    written, so they take no memory)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.placement: list[int] = []

    def add(self, column: np.ndarray, position: int) -> None:
        self.values[len(self.placement)] = column
        self.placement.append(position)


def frame_of_stored(meta: DatasetMeta, data: bytes | bytearray, by_column: bool = False) -> pd.DataFrame:
    """A stored dataset's frame: the Arrow form, or the CSV text of a dataset stored before it existed.
    `by_column`: decoded a column at a time (from_arrow_by_column), the same frame in less memory."""
    from analysis.datasets import parse_csv

    # the codec is in the stream itself, so any "arrow-ipc..." storage (zstd before LZ4) reads alike
    if (meta.storage or "").startswith(STORAGE):
        return from_arrow_by_column(data) if by_column else from_arrow(data)
    return parse_csv(bytes(data), meta.id_columns)


def is_parquet(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC


def _scalar_columns(schema: pa.Schema) -> pa.Schema:
    """Numbers, booleans and text as they are; dates and times as ISO text (as a CSV would carry them);
    anything nested or binary is refused by name (from the schema, before anything is decoded)."""
    fields = []
    refused = []
    for field in schema:
        kind = field.type.value_type if pat.is_dictionary(field.type) else field.type
        if pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind):
            fields.append(field)
        elif pat.is_string(kind) or pat.is_large_string(kind):
            fields.append(pa.field(field.name, kind))
        elif pat.is_temporal(kind) or pat.is_decimal(kind):
            fields.append(pa.field(field.name, pa.string() if pat.is_temporal(kind) else pa.float64()))
        else:
            refused.append(f"{shown(field.name, quoted=False)} ({field.type})")
    if refused:
        raise InvalidDataset(f"The Parquet file has columns of types the service cannot explain: {refused[:20]}; "
                             "send numbers, booleans, text, dates or times.")
    return pa.schema(fields)


def _is_text(kind: pa.DataType) -> bool:
    kind = kind.value_type if pat.is_dictionary(kind) else kind
    return bool(pat.is_string(kind) or pat.is_large_string(kind))


def _text_bytes(column: pa.Array) -> int:
    """The bytes of text a batch's column decodes to: for a dictionary-read column, each row's value counted
    once per row (computed on the indices: the values are never repeated in memory to count them)."""
    if isinstance(column, pa.DictionaryArray):
        lengths = pc.binary_length(column.dictionary)
        return int(pc.sum(pc.take(lengths, column.indices)).as_py() or 0)
    if _is_text(column.type):
        return int(pc.sum(pc.binary_length(column)).as_py() or 0)
    return 0


def _count(parquet: pq.ParquetFile, text: list[str], decoded: int, max_bytes: int) -> None:
    """Add the bytes of every text column to `decoded` (what the fixed-width cells come to), reading one
    column at a time in batches, as dictionaries (a value repeated in every row is held once), and keeping
    nothing; refuse (DatasetTooLarge) as soon as the sum passes `max_bytes`. One column at a time: the
    reader hands each batch the dictionary of its column chunk so far, so a high-cardinality column costs
    its dictionary for a moment, never every column's at once."""
    for name in text:
        for batch in parquet.iter_batches(batch_size=DECODE_ROWS, columns=[name], use_threads=False):
            decoded += _text_bytes(batch.column(0))
            check_decoded_size(decoded, max_bytes, "Parquet file")


def _check_pages(data: bytes, info: pq.FileMetaData, max_bytes: int) -> None:
    """DatasetTooLarge unless what the page headers declare fits in `max_bytes`, before any page is read:
    Arrow allocates and decompresses each page to the size its header declares (whatever the footer's column
    chunk sizes say: the footer and the headers are both the client's) and decodes each dictionary page
    whole. Two running sums, refused as soon as either passes: the decompressed bytes of every page, and the
    decoded entries of every dictionary page (analysis.parquet_pages)."""
    decompressed = entries = pages = 0
    limit = MAX_PAGES + PAGES_PER_CHUNK * info.num_row_groups * info.num_columns
    for g in range(info.num_row_groups):
        group = info.row_group(g)
        for c in range(info.num_columns):
            chunk = group.column(c)
            start = chunk.data_page_offset
            if chunk.has_dictionary_page and 0 < (chunk.dictionary_page_offset or 0) < start:
                start = chunk.dictionary_page_offset  # where Arrow starts reading the chunk
            entry = DICTIONARY_ENTRY_BYTES.get(chunk.physical_type, 16)
            for page in parquet_pages.chunk_pages(data, start, chunk.total_compressed_size, chunk.num_values):
                pages += 1
                if pages > limit:
                    raise InvalidDataset(f"The Parquet file has more than {limit} pages; write it with larger pages "
                                         "(pyarrow: data_page_size, data_page_row_count_limit).")
                decompressed += page.uncompressed
                check_decoded_size(decompressed, max_bytes, "Parquet file", PAGES)
                if page.kind == parquet_pages.DICTIONARY_PAGE:
                    entries += page.values * entry
                    check_decoded_size(entries, max_bytes, "Parquet file", DICTIONARIES)


def _open(data: bytes, **options: object) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(pa.BufferReader(data), thrift_string_size_limit=THRIFT_LIMIT,
                              thrift_container_size_limit=THRIFT_LIMIT, **options)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidDataset(f"The body is not a readable Parquet file: {shown(str(exc), quoted=False)}") from None


def read_parquet(data: bytes, max_rows: int, max_bytes: int | None = None) -> pd.DataFrame:
    """A Parquet upload as a frame. Before anything is decoded: its shape, its names (analysis.names) and
    its types from the schema, what its fixed-width cells and its decompressed pages come to from the
    metadata. Then a first decoding pass over the text columns that keeps nothing (`_count`): their decoded
    bytes, summed with the fixed-width cells, against `max_bytes` (MAX_DATASET_MB), so a file whose
    dictionary or run-length encoding expands without end is refused once its table passes the bound,
    before any of the table is built. Only then the table."""
    parquet = _open(data)
    info, schema = parquet.metadata, parquet.schema_arrow
    if info.num_columns > MAX_COLUMNS:
        raise InvalidDataset(f"The Parquet file has {info.num_columns} columns; at most {MAX_COLUMNS} are allowed.")
    if info.num_rows > max_rows:
        raise InvalidDataset(f"The Parquet file has {info.num_rows} rows; at most {max_rows} (MAX_ROWS) are allowed.")
    name_rule.check_all(schema.names, "The Parquet file", MAX_COLUMN_NAME_CHARS, InvalidDataset)
    wanted = _scalar_columns(schema)
    chunks = [info.row_group(g).column(c) for g in range(info.num_row_groups) for c in range(info.num_columns)]
    check_decoded_size(sum(max(chunk.total_uncompressed_size, 0) for chunk in chunks), max_bytes, "Parquet file")
    if max_bytes is not None:  # the page headers, which Arrow trusts over the footer
        _check_pages(data, info, max_bytes)
    declared = sum(info.row_group(i).total_byte_size for i in range(info.num_row_groups))
    if declared > PARQUET_EXPANSION * len(data):
        raise InvalidDataset(f"The Parquet file declares {declared} bytes of data in {len(data)} bytes; "
                             "send it with less extreme compression.")
    text = [field.name for field in schema if _is_text(field.type)]
    fixed = info.num_rows * (len(schema) * CELL_BYTES + sum(TEMPORAL_TEXT_BYTES for field in schema
                                                            if pat.is_temporal(field.type)))
    check_decoded_size(fixed, max_bytes, "Parquet file")
    try:
        if max_bytes is not None:  # a first pass counts, keeping nothing: a refusal builds no part of the table
            _count(_open(data, read_dictionary=text), text, fixed, max_bytes)
        # the whole table is now known to fit, so each plain batch does too
        table = pa.Table.from_batches((batch.cast(wanted) for batch in _open(data).iter_batches(
            batch_size=DECODE_ROWS, use_threads=False)), schema=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidDataset(f"The Parquet file could not be read: {shown(str(exc), quoted=False)}") from None
    # each column's Arrow memory is released as it is converted: the table and the frame never both whole
    return normalised(table.to_pandas(split_blocks=True, self_destruct=True))
