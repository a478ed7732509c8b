"""Large values read from Redis by ranges (GETRANGE) instead of one GET (issue 19: the web's memory). A GET of a
48 MB value grew a process by 96 MB at its peak (the client library's reply buffer, then the bytes object made
of it) and left it 48 MB larger; read by 4 MiB ranges into one buffer allocated at the value's size, the peak is
the value and a range, faster too (0.08 s against 0.16-0.19 s for a 48 MB dataset, same machine). A record-batch
stream can also be read by ranges as its reader asks for them (StoredRange), so only one batch's bytes are held."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import redis

WHOLE_RANGE = 4 * 2**20  # a range of a value read whole
STREAM_RANGE = 2**16  # the smallest range a StoredRange asks for (a message's metadata is read with it)
FIRST_RANGE = 4 * 2**20  # read with a value's size: all of a small one


class ValueGone(Exception):
    """The value expired, was deleted or replaced while it was being read by ranges."""


def read(client: redis.Redis, key: str) -> bytearray | None:
    """The value at `key` read by ranges into one buffer; None when there is none (or it went meanwhile)."""
    size = int(client.strlen(key))
    if not size:
        return None
    data = bytearray(size)
    view = memoryview(data)
    position = 0
    while position < size:
        piece: Any = client.getrange(key, position, min(position + WHOLE_RANGE, size) - 1)
        if not piece:
            return None
        view[position:position + len(piece)] = piece
        position += len(piece)
    return data


class StoredRange(io.RawIOBase):
    """A stored value read by ranges as a reader asks for its bytes: Arrow's stream reader asks for a message's
    metadata, then its body (a record batch: about 8 MB at 10,000 rows x 131 features), so the reader holds one
    batch's bytes, never the whole value (84 MB for a 100,000-row result's rows table)."""

    def __init__(self, client: redis.Redis, key: str, size: int, first: bytes = b"") -> None:
        super().__init__()
        self.client, self.key, self.size, self.position = client, key, size, 0
        self.first = first  # the value's first bytes, read already (with its size)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.position < len(self.first):
            known = memoryview(self.first)[self.position:self.position + len(view)]
            view[:len(known)] = known
            self.position += len(known)
            return len(known)
        # at most WHOLE_RANGE a call (BufferedReader reads on): a larger reply cost the client library more than
        # the round trips it saved (a 101 MB table sent as Arrow: 0.41-0.67 s so, 0.48-0.65 s a batch a range)
        end = min(self.position + len(view), self.size, self.position + WHOLE_RANGE)
        if end <= self.position:
            return 0
        piece: Any = self.client.getrange(self.key, self.position, end - 1)
        if not piece:  # an answer under way is cut: the client sees a broken transfer, never a short table
            raise ValueGone(f"{self.key} expired while it was being read")
        view[:len(piece)] = piece
        self.position += len(piece)
        return len(piece)


@dataclass(frozen=True)
class RangeSource:
    """Where a stored value is read by ranges: each reading opens its own StoredRange; `first`, the value's
    first bytes read with its size, is not asked for again (a value of at most FIRST_RANGE is all there)."""

    client: redis.Redis
    key: str
    size: int
    first: bytes = b""

    @property
    def complete(self) -> bool:
        """The whole value came with its size (`first` is all of it: no further range is read)."""
        return len(self.first) == self.size

    def open(self) -> io.BufferedReader:
        return io.BufferedReader(StoredRange(self.client, self.key, self.size, self.first),
                                 buffer_size=STREAM_RANGE)


def source(client: redis.Redis, key: str) -> RangeSource | None:
    """Where the value at `key` is read by ranges, its size and first FIRST_RANGE bytes read in one round trip
    (a small value, such as the wide table's 1.8 MB rows table, is then read whole); None when there is none."""
    with client.pipeline(transaction=True) as pipe:
        pipe.strlen(key)
        pipe.getrange(key, 0, FIRST_RANGE - 1)
        size, first = pipe.execute()
    return RangeSource(client, key, int(size), first) if size else None
