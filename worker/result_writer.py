"""A result stored in Redis as it is encoded, never held whole (worker.jobs.run_analysis writes through it)."""

from __future__ import annotations

import redis


class ResultWriter:
    """Stores an encoded result under `key` as it is produced, holding at most about `flush_bytes` of it.

    Pieces are buffered; a full buffer is appended to a temporary key, which is renamed to `key` at the
    end (a reader never sees part of a result; a horse that dies leaves only a temporary key that
    expires). A result smaller than the buffer is written with one SET, as before."""

    def __init__(self, client: redis.Redis, key: str, ttl: int, flush_bytes: int) -> None:
        self.client, self.key, self.ttl, self.flush_bytes = client, key, ttl, flush_bytes
        self.partial = f"{key}:partial"
        self.parts: list[bytes | memoryview] = []
        self.buffered = 0
        self.total = 0
        self.appended = False

    def write(self, piece: bytes | memoryview) -> None:
        self.parts.append(piece)
        self.buffered += len(piece)
        self.total += len(piece)
        if self.buffered >= self.flush_bytes:
            self._flush()

    def _flush(self) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            if not self.appended:
                pipe.delete(self.partial)  # left by an earlier attempt of this job
            pipe.append(self.partial, b"".join(self.parts))
            pipe.expire(self.partial, self.ttl)
            pipe.execute()
        self.parts, self.buffered, self.appended = [], 0, True

    def close(self) -> int:
        if not self.appended:
            self.client.set(self.key, b"".join(self.parts), ex=self.ttl)
        else:
            self._flush()
            with self.client.pipeline(transaction=True) as pipe:
                pipe.rename(self.partial, self.key)
                pipe.expire(self.key, self.ttl)
                pipe.execute()
        self.parts = []
        return self.total
