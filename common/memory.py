"""Giving the memory of a large piece of work back to the system once it is done (issue 19: the web's RSS while
it serves 100,000-row results). A 70 MB CSV or a stored dataset decoded, or a 100,000-row answer written, frees
hundreds of MB that the allocators keep for reuse: pyarrow's pool (mimalloc) keeps its freed pages, and glibc
keeps freed chunks in the heaps of the threads that freed them (Waitress's threads), so the process stays at its
peak. Releasing them costs milliseconds, so it is done after such work only, not after every request."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable, Iterator
from typing import cast


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim (None on a C library without it, e.g. musl)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return cast(Callable[[int], int], ctypes.CDLL(name).malloc_trim)
    except (OSError, AttributeError):
        return None


def release() -> None:
    """Give freed memory back: pyarrow's pool's unused pages, then glibc's free chunks of every thread's heap."""
    import pyarrow as pa  # on first use, as the routes that do large work import it

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


# bytes an answer must reach before it is followed by release(): a 100,000-row answer (100-330 MB) frees
# hundreds of MB, a 1,650-row one (2-5 MB) next to nothing, and malloc_trim walks every thread's heap: run
# after each small answer it cut 16 clients' reads of a 1.8 MB Arrow answer from 98 to 35 a second
RELEASE_AFTER_BYTES = 32 * 1024 * 1024


def released_after(pieces: Iterator[bytes], threshold: int = RELEASE_AFTER_BYTES,
                   then: Callable[[], None] = release) -> Iterator[bytes]:
    """`pieces` as they come, then `then()` (release) once they are all written, if they came to `threshold`
    bytes or more (a large answer's pieces; a small answer's transient is reused by the next request)."""
    written = 0
    for piece in pieces:
        written += len(piece)
        yield piece
    if written >= threshold:
        then()
