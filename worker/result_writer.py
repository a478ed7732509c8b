"""A finished analysis's stored result (store.result_store) written beside the rest of its work: as soon as the
result's per-row parts exist (explain.run's `rows_ready`) the job encodes the rows table and hands the bytes to
a thread that sends them to Redis, while the job builds the rest of its result (the effect shapes, the summary);
the head is written last, in one transaction with the table's rename to its key, so a reader finds both or
neither (docs/decisions/00XX-rows-table-stored-beside-the-result.md).

Why: at 100,000 rows the table's IPC stream is about 78 MB, and Redis takes 0.35-0.9 s to take it (its
append-only file writes every byte again), about as long as the rest of the result takes to build. The thread
only writes to a socket (the GIL is released while it blocks) and Redis does the work in its own process. The
encoding (0.2 s of LZ4) stays in the job's thread: run in the writer too it competed with the result on a busy
machine and made both slower (bench/RESULTS.md, "worker-path"). The stored bytes are the same either way.

The job's timings (docs/api.md, "The result") name the parts: `encode_s` building the stored bytes (the table,
its stream, the head), `store_s` writing them to Redis, and `store_wait_s` how long the job waited for the
thread once the rest of its result was built (the part of `store_s` that was not hidden)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import pyarrow as pa
import redis

from analysis import rows_table
from common.redis_conn import REDIS_UNREACHABLE
from store import result_store

log = logging.getLogger(__name__)

# a pending table outlives its work horse by at most this (the job's own timeout comes on top): long enough for
# the head's write, short enough that a horse killed mid-job leaves no 78 MB behind for a day
PENDING_GRACE_S = 120


class ResultWriter:
    """Writes one job's rows table in a thread (`start`), then its head (`finish`); used as a context manager,
    which deletes the pending table when the job fails before `finish`."""

    def __init__(self, client: redis.Redis, job_id: str, ttl: int, job_timeout: int) -> None:
        self._client, self._job_id, self._ttl = client, job_id, ttl
        self._pending_ttl = job_timeout + PENDING_GRACE_S
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rows-table-writer")
        self._written: Future[tuple[float, int]] | None = None
        self._committed = False
        self.timings = {"encode_s": 0.0, "store_s": 0.0, "store_wait_s": 0.0}

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._pool.shutdown(wait=True)  # the thread's write ends before its key is deleted
        if not self._committed and self._written is not None:
            try:
                result_store.abandon(self._client, self._job_id)
            except REDIS_UNREACHABLE as exc:  # the job's own error is the one to report; the key expires anyway
                log.warning("pending rows table of job %s not deleted: %s", self._job_id, exc)

    def start(self, make_table: Callable[[], pa.Table]) -> None:
        """Build the rows table and its stream here (the table reads the result's parts, which the job goes on
        using), then send the stream to Redis in the thread (nothing else holds it)."""
        started = time.perf_counter()
        stream = rows_table.to_ipc(make_table())
        self.timings["encode_s"] += time.perf_counter() - started
        self._written = self._pool.submit(self._write, stream)

    def _write(self, stream: memoryview) -> tuple[float, int]:
        """The stream's store seconds and bytes, in the thread."""
        started = time.perf_counter()
        result_store.save_pending_table(self._client, self._job_id, stream, self._pending_ttl)
        return time.perf_counter() - started, len(stream)

    def table_written(self) -> tuple[float, int]:
        """Wait for the thread: the table's store seconds and bytes (the thread's error is raised here)."""
        assert self._written is not None, "start() was not called"
        return self._written.result()

    def finish(self, make_head: Callable[[], bytes]) -> int:
        """Wait for the table, then write the head and make the table the result's; the stored bytes."""
        started = time.perf_counter()
        head = make_head()
        waiting = time.perf_counter()
        store_s, table_bytes = self.table_written()
        committing = time.perf_counter()
        result_store.commit(self._client, self._job_id, head, self._ttl)
        self._committed = True
        self.timings["encode_s"] += waiting - started
        self.timings["store_s"] += store_s + (time.perf_counter() - committing)
        self.timings["store_wait_s"] = committing - waiting
        return len(head) + table_bytes
