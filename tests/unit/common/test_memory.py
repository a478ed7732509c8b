"""common.memory: freed memory is given back after large answers only."""

from __future__ import annotations

from common import memory


def _answer(pieces: list[bytes], threshold: int) -> tuple[bytes, int]:
    calls: list[None] = []
    written = b"".join(memory.released_after(iter(pieces), threshold, then=lambda: calls.append(None)))
    return written, len(calls)


def test_a_large_answer_is_followed_by_one_release() -> None:
    assert _answer([b"a" * 600, b"b" * 500], threshold=1_000) == (b"a" * 600 + b"b" * 500, 1)


def test_a_small_answer_is_not_followed_by_a_release() -> None:
    assert _answer([b"a" * 600, b"b" * 300], threshold=1_000) == (b"a" * 600 + b"b" * 300, 0)


def test_release_runs_in_this_process() -> None:
    memory.release()  # pyarrow's pool and glibc's malloc_trim (when the C library has it): no error
