"""Parquet files that lie in their page headers (issue 22), for the hostile-input tests and benchmark: made by
pyarrow, then one page replaced in place, so the footer stays exactly as pyarrow wrote it."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _i32_fields(*values: int) -> bytes:
    """Thrift compact fields 1, 2, 3... holding i32 `values` (each field header: id delta 1, type 5)."""
    return b"".join(b"\x15" + _varint((v << 1) ^ (v >> 31)) for v in values)


def data_page_header(uncompressed: int, compressed: int, values: int) -> bytes:
    """A Parquet PageHeader (parquet.thrift) of a v1 data page, PLAIN values, no levels: type 0, the two sizes,
    then field 5, the DataPageHeader (num_values, PLAIN, RLE, RLE)."""
    return _i32_fields(0, uncompressed, compressed) + b"\x2c" + _i32_fields(values, 0, 3, 3) + b"\x00\x00"


def _zstd(chunks: Iterator[bytes]) -> bytes:
    """One zstd frame of `chunks`, compressed as a stream (pyarrow's codec; the whole text is never in memory)."""
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as stream:
        for chunk in chunks:
            stream.write(chunk)
    return sink.getvalue().to_pybytes()


def _replace_text_page(declared: int, frame: bytes, rows: int = 100) -> bytes:
    """A valid file of pyarrow's (y, text; one zstd data page of incompressible text), whose text page is replaced
    in place by a page of `frame` declaring `declared` decompressed bytes; the bytes left are a zstd skippable
    frame, so every offset and size in the footer stays as pyarrow wrote it (the column chunk's metadata says
    about 100 KB, whatever the new page holds)."""
    text = pa.array([np.random.default_rng(i).bytes(500).hex() for i in range(rows)], pa.string())
    table = pa.table({"y": pa.array(np.arange(rows) % 2), "text": text},
                     schema=pa.schema([("y", pa.int64()), pa.field("text", pa.string(), nullable=False)]))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", use_dictionary=False, write_statistics=False)
    data = bytearray(sink.getvalue())
    chunk = pq.ParquetFile(pa.BufferReader(bytes(data))).metadata.row_group(0).column(1)
    start, length = chunk.data_page_offset, chunk.total_compressed_size
    compressed = length - len(data_page_header(declared, length, rows))
    header = data_page_header(declared, compressed, rows)
    padding = compressed - len(frame) - 8
    assert len(header) + compressed == length and padding >= 0, (len(frame), length)
    skippable = b"\x50\x2a\x4d\x18" + padding.to_bytes(4, "little") + bytes(padding)
    data[start:start + length] = header + frame + skippable
    return bytes(data)


def page_bomb(decompressed_mb: int = 512, rows: int = 100) -> bytes:
    """A compression bomb in one page: its header says, truly, that it decompresses to `decompressed_mb` MiB
    (`rows` values of 'x' repeated), while the footer's column chunk says about 100 KB."""
    each = decompressed_mb * 2**20 // rows - 4
    value = each.to_bytes(4, "little") + b"x" * each  # PLAIN: a 4-byte length, then the bytes
    return _replace_text_page(rows * len(value), _zstd(iter([value] * rows)))


def lying_page_header(rows: int = 100) -> bytes:
    """A page whose header lies about its own size: it declares 2 GiB - 1 decompressed; its data is 1,400 bytes."""
    return _replace_text_page(2**31 - 1, _zstd(iter([(10).to_bytes(4, "little") + b"x" * 10] * rows)))
