"""Finished analyses' whole JSON answers kept by one web process (FINISHED_ANSWERS_MB), so a result read again is
sent without being written again from its rows table (bench/RESULTS.md, issue 19: what it saves).

A finished analysis's answer never changes: its head and rows table are written once and only expire or are
deleted. So nothing need announce changes (no CLIENT TRACKING, docs/decisions/0020): a kept answer is served
only after one EXISTS finds its job and its result's head still stored."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator

ENTRY_BYTES = 8 * 2**20  # a larger answer is written again at each read, never kept


class FinishedAnswers:
    """Answers by (job id, variant), least recently read out first, `max_bytes` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, job_id: str, variant: str) -> bytes | None:
        with self.lock:
            found = self.entries.get((job_id, variant))
            if found is not None:
                self.entries.move_to_end((job_id, variant))
            return found

    def put(self, job_id: str, variant: str, answer: bytes) -> None:
        if len(answer) > min(ENTRY_BYTES, self.max_bytes):
            return
        with self.lock:
            old = self.entries.pop((job_id, variant), None)
            self.size += len(answer) - (len(old) if old is not None else 0)
            self.entries[(job_id, variant)] = answer
            while self.size > self.max_bytes:
                _, dropped = self.entries.popitem(last=False)
                self.size -= len(dropped)

    def discard(self, job_id: str) -> None:
        with self.lock:
            for key in [key for key in self.entries if key[0] == job_id]:
                self.size -= len(self.entries.pop(key))

    def keeping(self, job_id: str, variant: str, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """`pieces`, passed on as they come, and kept whole once the last has gone out if they come to no more
        than an entry may hold (an answer cut short by the client is not kept)."""
        held: list[bytes] | None = [] if self.max_bytes else None
        total = 0
        for piece in pieces:
            if held is not None:
                total += len(piece)
                if total <= ENTRY_BYTES:
                    held.append(piece)
                else:
                    held = None
            yield piece
        if held is not None:
            self.put(job_id, variant, b"".join(held))
