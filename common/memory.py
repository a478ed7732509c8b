"""Giving the memory of a large piece of work back to the system once it is done (issue 19: the web's RSS while
it serves 100,000-row results). A 70 MB CSV or a stored dataset decoded, or a 100,000-row answer written, frees
hundreds of MB that the allocators keep for reuse: pyarrow's pool (mimalloc) keeps its freed pages, and glibc
keeps freed chunks in the heaps of the threads that freed them (Waitress's threads), so the process stays at its
peak. Releasing them costs milliseconds, so it is done after such work only, not after every request."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
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


# answers' bytes between two release() calls: a 100,000-row answer (100-330 MB) is followed by one at once, 1,650-row
# ones (2-5 MB) by one every few dozen: malloc_trim walks every thread's heap, and run after each small answer
# it slowed 16 clients' reads of a 1.8 MB Arrow answer; never run, their transients stayed in the allocators
RELEASE_AFTER_BYTES = 32 * 1024 * 1024


class Written:
    """The bytes of answers written since memory was last given back (one per process: ANSWERS); `then()`
    (release) runs once they come to `threshold`."""

    def __init__(self, threshold: int = RELEASE_AFTER_BYTES, then: Callable[[], None] = release) -> None:
        self.threshold, self.then = threshold, then
        self.since = 0
        self.lock = threading.Lock()

    def add(self, size: int) -> None:
        with self.lock:
            self.since += size
            due = self.since >= self.threshold
            if due:
                self.since = 0
        if due:
            self.then()


ANSWERS = Written()


def released_after(pieces: Iterator[bytes], written: Written = ANSWERS) -> Iterator[bytes]:
    """`pieces` as they come; once they are all written, their bytes count towards the next release()."""
    size = 0
    for piece in pieces:
        size += len(piece)
        yield piece
    written.add(size)
