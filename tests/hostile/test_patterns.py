"""Finding 1, the other patterns that see client input: dataset names are matched whole and the
failure-message reader splits lines by hand (the old pattern's adjacent repeats backtracked)."""

from __future__ import annotations

import time

import pytest

from common.datasets import check_name
from common.errors import InvalidDataset
from common.job_errors import describe_failure


@pytest.mark.parametrize("name", ["okname\n", "default\n", "a\nb", "", "-x", "a" * 65, "a/b", "a b"])
def test_a_dataset_name_must_match_whole(name: str) -> None:
    """A trailing newline, an empty or overlong name and any other character are refused."""
    with pytest.raises(InvalidDataset, match="invalid"):
        check_name(name)


@pytest.mark.parametrize(("text", "kind", "message"), [
    ("Traceback...\nValueError: boom", "ValueError", "boom"),
    ("catboost.CatBoostError: bad target", "CatBoostError", "bad target"),
    ("common.errors.DatasetError:no space", "DatasetError", "no space"),
    ("KeyboardInterrupt", "Error", "KeyboardInterrupt"),
    ("x.y.TimeoutExpired: late", "TimeoutExpired", "late"),
])
def test_failure_lines_are_read_as_before(text: str, kind: str, message: str) -> None:
    """`pkg.SomeError: message` gives its class name and message; other lines are kept whole."""
    assert describe_failure(text) == {"type": kind, "message": message}


@pytest.mark.parametrize("line", ["Error" * 40_000, "a." * 100_000 + "Error", "E" + "rror" * 50_000 + "!:"])
def test_a_hostile_failure_line_is_read_at_once(line: str) -> None:
    """Lines built to make `[\\w.]*(Error...)\\w*:` backtrack are read in linear time."""
    started = time.perf_counter()
    describe_failure(line)
    assert time.perf_counter() - started < 0.05
