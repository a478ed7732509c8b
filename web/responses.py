"""JSON responses encoded with orjson (NaN and infinities become null)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from flask import Response


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                    mimetype="application/json")


GZIP_LEVEL = 1  # fast: results are mostly digits, level 6 saves about 9% more at 6x the time
GZIP_MIN_BYTES = 1024


def gzip_chunks(chunks: list[bytes], level: int = GZIP_LEVEL) -> bytes:
    """One gzip member of the concatenated chunks, without joining them first."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join([*(compressor.compress(chunk) for chunk in chunks), compressor.flush()])


def maybe_gzip(chunks: list[bytes], gzip_ok: bool) -> tuple[list[bytes], bool]:
    """The chunks gzip-compressed when the client accepts it and they are GZIP_MIN_BYTES or more."""
    if gzip_ok and sum(map(len, chunks)) >= GZIP_MIN_BYTES:
        return [gzip_chunks(chunks)], True
    return chunks, False


def json_chunks_response(chunks: list[bytes], status: int = 200, *, gzip_ok: bool = False,
                         gzipped: bool = False) -> Response:
    """JSON sent as the given chunks (Waitress writes each; nothing is joined). With `gzip_ok` (the
    client accepts gzip) an answer of GZIP_MIN_BYTES or more is compressed; `gzipped` chunks already are.
    The answer varies with Accept-Encoding, and says so."""
    if not gzipped:
        chunks, gzipped = maybe_gzip(chunks, gzip_ok)
    response = Response(chunks[0] if len(chunks) == 1 else chunks, status=status, mimetype="application/json")
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response


def json_generated_response(chunks: Iterable[bytes], *, gzipped: bool = False) -> Response:
    """JSON sent as it is produced (Waitress writes each chunk as it comes, chunked: its length is not known
    before it is made; `gzipped`: the chunks are a gzip stream, `gzip_stream`): the web never holds the whole."""
    response = Response(chunks, mimetype="application/json")
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response


def gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """One gzip member of the chunks, compressed a chunk at a time."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        packed = compressor.compress(chunk)
        if packed:
            yield packed
    yield compressor.flush()
