"""Finding 1, the other patterns that see client input: dataset names are matched whole and the
failure-message reader splits lines by hand (the old pattern's adjacent repeats backtracked). Finding 3's
DEFAULT_DATASET_PATH half, against a real redis-server."""

from __future__ import annotations

import logging
import time

import pytest

from analysis import columnar, datasets
from analysis.datasets import check_name
from common.errors import InvalidDataset
from common.job_errors import describe_failure
from common.settings import Settings
from store import dataset_store, default_dataset


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


def test_default_dataset_path_replaces_a_stored_default_and_says_so(redis_server, tmp_path, caplog) -> None:
    """A client's `default` survives start-up, unless DEFAULT_DATASET_PATH is set: then the file wins, logged."""

    client = redis_server.client()
    mine = b"y,x\n" + b"".join(b"%d,%d\n" % (i % 4, i) for i in range(20))
    meta, frame = datasets.describe(mine, datasets.DatasetOptions(), name="default", max_rows=1000)
    uploaded = meta.model_copy(update={"origin": dataset_store.ORIGIN_UPLOAD})
    dataset_store.store(client, uploaded, columnar.to_arrow(frame))
    plain = Settings.from_env({"REDIS_URL": redis_server.url})
    assert default_dataset.ensure_loaded(client, plain) == meta.version
    path = tmp_path / "operator.csv"
    path.write_bytes(b"a,b\n" + b"".join(b"%d,%d\n" % (i % 3, i * 2) for i in range(20)))
    with caplog.at_level(logging.WARNING, logger="store.default_dataset"):
        replaced = default_dataset.ensure_loaded(client, Settings.from_env({"REDIS_URL": redis_server.url,
                                                                            "DEFAULT_DATASET_PATH": str(path)}))
    assert replaced != meta.version and dataset_store.load_meta(client, "default").version == replaced
    assert "DEFAULT_DATASET_PATH" in caplog.text and "a client stored" in caplog.text
