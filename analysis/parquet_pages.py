"""What a Parquet file's pages say they decompress to, read from their own headers before Arrow reads any page.

Arrow trusts each page header: it allocates the `uncompressed_page_size` a page declares (a 32-bit field, up
to 2 GiB) and decompresses into it, whatever the column chunk's metadata in the footer says (the footer and
the page headers are both the client's, and nothing makes them agree). A dictionary page's entries are decoded
into a table of their own (16 bytes an entry for text) before any row is read. So the bound on the decoded
size (MAX_DATASET_MB) is checked against the page headers too: every page Arrow would read, in the order it
reads them (analysis.columnar calls this before decoding anything).

pyarrow does not expose page headers, so this reads them: the Thrift compact protocol, for the few fields
that matter (PageHeader, DataPageHeader, DataPageHeaderV2, DictionaryPageHeader of parquet.thrift), skipping
every other field by its type. Pure: bytes in, figures out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from common.errors import InvalidDataset

DATA_PAGE, INDEX_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 1, 2, 3
VALUE_HEADER = {DATA_PAGE: 5, DICTIONARY_PAGE: 7, DATA_PAGE_V2: 8}  # the field holding each kind's num_values
OLD_WRITER_PADDING = 100  # Arrow reads up to this many bytes past a column chunk written by an old parquet-mr
MAX_DEPTH = 8  # nested structs in a page header: 3 are real (statistics), more is a stack attack
# Thrift compact types (the low nibble of a field header)
TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT, UUID = range(1, 14)
FIXED_BYTES = {DOUBLE: 8, UUID: 16}


@dataclass(frozen=True)
class PageHeader:
    kind: int  # DATA_PAGE, INDEX_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2, or another (Arrow skips it)
    uncompressed: int  # the bytes Arrow allocates and decompresses the page into
    compressed: int  # the bytes that follow the header
    values: int  # num_values of a data or dictionary page (0 for other kinds)
    end: int  # where the header ends in the file (the page's bytes start there)


def _unreadable(why: str) -> InvalidDataset:
    return InvalidDataset(f"The Parquet file could not be read: a page header is malformed ({why}).")


class _Compact:
    """A reader of Thrift compact-protocol values from `data[pos:end]`."""

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise _unreadable("it runs past its column chunk")
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self) -> int:
        value = shift = 0
        while shift < 70:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
        raise _unreadable("a number longer than 10 bytes")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip_bytes(self, count: int) -> None:
        if count < 0 or self.pos + count > self.end:
            raise _unreadable("a value runs past its column chunk")
        self.pos += count

    def value(self, kind: int, depth: int) -> int | dict[int, object] | None:
        """An integer, a boolean (1/0) or a struct (field id -> value); None for anything skipped."""
        if kind in (TRUE, FALSE):
            return 1 if kind == TRUE else 0
        if kind == BYTE:
            return self.byte()
        if kind in (I16, I32, I64):
            return self.zigzag()
        if kind in FIXED_BYTES:
            self.skip_bytes(FIXED_BYTES[kind])
        elif kind == BINARY:
            self.skip_bytes(self.varint())
        elif kind == STRUCT:
            return self.struct(depth + 1)
        elif kind in (LIST, SET, MAP):
            self._skip_collection(kind, depth)
        else:
            raise _unreadable(f"unknown type {kind}")
        return None

    def _skip_collection(self, kind: int, depth: int) -> None:
        if kind == MAP:
            size = self.varint()
            kinds = (self.byte() if size else 0)
            element_kinds = [kinds >> 4, kinds & 0x0F]
        else:
            head = self.byte()
            size = self.varint() if head >> 4 == 15 else head >> 4
            element_kinds = [head & 0x0F]
        if size > self.end - self.pos:  # every element takes a byte at least
            raise _unreadable("a list longer than its bytes")
        for _ in range(size):
            for element in element_kinds:
                if element in (TRUE, FALSE):  # a boolean element is a byte of its own
                    self.byte()
                else:
                    self.value(element, depth)

    def struct(self, depth: int = 0) -> dict[int, object]:
        if depth > MAX_DEPTH:
            raise _unreadable("structs nested too deep")
        fields: dict[int, object] = {}
        last = 0
        while (head := self.byte()) != 0:
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else self.zigzag()
            fields[last] = self.value(kind, depth)
        return fields


def _int(fields: dict[int, object], key: int) -> int:
    value = fields.get(key)
    if not isinstance(value, int) or not 0 <= value < 2**31:
        raise _unreadable(f"field {key} missing or out of range")
    return value


def read_header(data: bytes, pos: int, end: int) -> PageHeader:
    """The page header at `pos` (it and the page's bytes must end by `end`)."""
    reader = _Compact(data, pos, end)
    fields = reader.struct()
    kind = _int(fields, 1)
    nested = fields.get(VALUE_HEADER.get(kind, -1))
    values = _int(nested, 1) if isinstance(nested, dict) else 0
    if kind in VALUE_HEADER and not isinstance(nested, dict):
        raise _unreadable(f"a page of kind {kind} without its header")
    return PageHeader(kind, _int(fields, 2), _int(fields, 3), values, reader.pos)


def chunk_pages(data: bytes, start: int, length: int, values: int) -> Iterator[PageHeader]:
    """The headers of the pages Arrow reads for one column chunk: from `start`, header after header, until the
    data pages have given the chunk's `values` or its bytes end (`length`, with the padding Arrow allows
    files of old writers; past the end of the file nothing is read)."""
    end = min(start + length + OLD_WRITER_PADDING, len(data))
    if start < 4 or length < 0:
        raise _unreadable("a column chunk outside the file")
    seen, pos = 0, start
    while seen < values and pos < end:
        header = read_header(data, pos, end)
        yield header
        pos = header.end + header.compressed
        if header.kind in (DATA_PAGE, DATA_PAGE_V2):
            seen += header.values
