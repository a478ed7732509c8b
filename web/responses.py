"""JSON responses encoded with orjson (NaN and infinities become null)."""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable
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


class AnswerCache:
    """Whole /job_status answers of finished jobs (they never change once a job has finished), by job id
    and encoding, least recently used first out, bounded in bytes. The caller checks that the job and
    its result still exist before it serves an entry."""

    def __init__(self, max_bytes: int, max_entry_bytes: int) -> None:
        self.max_bytes, self.max_entry_bytes = max_bytes, max_entry_bytes
        self._entries: OrderedDict[tuple[str, str], tuple[bytes, bool]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, job_id: str, variant: str) -> tuple[bytes, bool] | None:
        """(answer, whether it is gzip-compressed), or None."""
        with self._lock:
            entry = self._entries.get((job_id, variant))
            if entry is not None:
                self._entries.move_to_end((job_id, variant))
            return entry

    def put(self, job_id: str, variant: str, answer: bytes, gzipped: bool = False) -> None:
        if len(answer) > self.max_entry_bytes:
            return
        with self._lock:
            previous = self._entries.pop((job_id, variant), None)
            self._size += len(answer) - (len(previous[0]) if previous is not None else 0)
            self._entries[(job_id, variant)] = (answer, gzipped)
            while self._size > self.max_bytes:
                _, (evicted, _) = self._entries.popitem(last=False)
                self._size -= len(evicted)

    def discard(self, job_id: str) -> None:
        with self._lock:
            for key in [key for key in self._entries if key[0] == job_id]:
                self._size -= len(self._entries.pop(key)[0])


def json_stream_response(chunks: Iterable[bytes], length: int, *, gzipped: bool = False) -> Response:
    """JSON of a known length sent as it is produced (Waitress writes each chunk as it comes)."""
    response = Response(chunks, mimetype="application/json")
    response.headers["Content-Length"] = str(length)
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response
