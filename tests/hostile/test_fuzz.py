"""Fuzzing the two grammars a client writes, the filters and the CSV, against a real web (hypothesis,
about half a minute each): never a 5xx, never slow, and every refusal is the one error body."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.redis_server import RedisServer
from devtools.stack import Stack
from tests.hostile.helpers import CANONICAL_KEYS

SLOWEST_ANSWER_S = 2.0  # generous for a loaded machine; the old filter pattern took 8 s on 24 KB
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))

COLUMNS = ["Income", "Age", "Province", "Urban_Rural", "high", "low", "zip_code"]
FILTER_TEXT = st.lists(st.one_of(st.sampled_from(COLUMNS), st.sampled_from(["<", ">", "=", "!", "==", ">=", " ", "\t"]),
                                 st.text(alphabet=" '\"=<>!0123456789.eE-+abcON\n\r\x00", max_size=8),
                                 st.text(max_size=4)), max_size=12).map("".join)
FILTERS = st.one_of(st.lists(FILTER_TEXT, max_size=4),
                    st.tuples(st.sampled_from(["A", "Income", "high"]), st.sampled_from([" ", "=", "<", "\t"]),
                              st.integers(1000, 40_000)).map(lambda t: [t[0] + t[1] * t[2] + "B"]),
                    st.lists(st.one_of(st.integers(), st.none(), st.booleans()), max_size=3))

CELL = st.text(alphabet="abc,\"'\r\n\x00 ;01234.5-e\t\xe9", max_size=10)
CSV_TEXT = st.lists(st.lists(CELL, min_size=1, max_size=5).map(",".join), min_size=1, max_size=40).map(
    lambda lines: "\n".join(lines).encode())
CSV_BODIES = st.one_of(st.binary(max_size=3000), CSV_TEXT,
                       st.tuples(CSV_TEXT, st.sampled_from([b"\r", b"\r\n", b"\n"])).map(
                           lambda t: t[0].replace(b"\n", t[1])))


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server = RedisServer(tmp_path_factory.mktemp("fuzz") / "redis", appendonly=False).start()
    running = Stack(server).start_web()
    assert running.request("GET", "/metadata")[0] == 200  # the default dataset, loaded before the fuzzing
    yield running
    running.stop()
    server.stop()


def _check(answer: tuple[int, object, dict], seconds: float) -> None:
    status, body, _ = answer
    assert status < 500, (status, body)
    assert seconds < SLOWEST_ANSWER_S, f"answered after {seconds:.2f}s"
    if status >= 400:
        assert isinstance(body, dict) and set(body) <= CANONICAL_KEYS and body["success"] is False, body
        assert isinstance(body["code"], str) and isinstance(body["error"], str) and len(str(body)) < 8000


@given(FILTERS)
@FUZZ
def test_fuzzed_filters_never_break_the_web(web: Stack, filters: list) -> None:
    """Any demographic_filters: a 202 or a canonical 4xx, quickly."""
    started = time.perf_counter()
    answer = web.request("POST", "/analyze", {"demographic_filters": filters, "sample_size": 5})
    _check(answer, time.perf_counter() - started)


@given(CSV_BODIES)
@FUZZ
def test_fuzzed_csv_uploads_never_break_the_web(web: Stack, data: bytes) -> None:
    """Any CSV body: a 200/201 or a canonical 4xx (most often invalid_dataset), quickly."""
    started = time.perf_counter()
    answer = web.request("PUT", "/datasets/fuzzed", raw=data, headers={"Content-Type": "text/csv"})
    _check(answer, time.perf_counter() - started)
