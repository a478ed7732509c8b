"""common.memory: freed memory is given back after large answers, and after many small ones."""

from __future__ import annotations

from common import memory


def _counted(threshold: int) -> tuple[memory.Written, list[None]]:
    calls: list[None] = []
    return memory.Written(threshold, then=lambda: calls.append(None)), calls


def test_a_large_answer_is_followed_by_one_release() -> None:
    written, calls = _counted(1_000)
    assert b"".join(memory.released_after(iter([b"a" * 600, b"b" * 500]), written)) == b"a" * 600 + b"b" * 500
    assert len(calls) == 1


def test_small_answers_are_followed_by_a_release_once_they_add_up() -> None:
    written, calls = _counted(1_000)
    for _ in range(3):
        assert b"".join(memory.released_after(iter([b"a" * 300]), written)) == b"a" * 300
    assert not calls
    written.add(100)
    assert len(calls) == 1 and written.since == 0


def test_release_runs_in_this_process() -> None:
    memory.release()  # pyarrow's pool and glibc's malloc_trim (when the C library has it): no error
