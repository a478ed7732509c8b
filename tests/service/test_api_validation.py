"""Bad input gets the right 4xx, a message naming the problem, the one error shape, and enqueues nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.checks import assert_error
from devtools.http import http
from devtools.redis_server import RedisServer
from devtools.stack import Stack


def queued_jobs(stack: Stack) -> int:
    return stack.redis().llen(f"rq:queue:{stack.settings.queue_name}")


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b"{not json", "invalid_request", ("not valid JSON",)),
        (b"", "invalid_request", ("empty",)),
        (b"[1, 2]", "invalid_request", ("JSON object",)),
        (b'{"dataset": "nope"}', "unknown_dataset", ("nope",)),
        (b'{"target_variable": "Nope"}', "unknown_column", ("Nope",)),
        (b'{"target": "zip_code"}', "invalid_request", ("zip_code", "id column")),
        (b'{"target": "Age", "target_variable": "Income"}', "invalid_request", ("'Age'", "'Income'", "one of them")),
        (b'{"demographic_filters": ["Income >> 5"]}', "invalid_filter", ("Income >> 5",)),
        (b'{"demographic_filters": ["Income"]}', "invalid_filter", ("not understood",)),
        (b'{"demographic_filters": ["Salary > 5"]}', "unknown_column", ("Salary",)),
        (b'{"demographic_filters": ["high Salary"]}', "unknown_column", ("Salary",)),
        (b'{"demographic_filters": ["Income > 99999999"]}', "empty_selection", ("select no rows",)),
        (b'{"demographic_filters": ["Province == on"]}', "empty_selection", ("Did you mean 'ON'?", "case-sensitive")),
        (b'{"demographic_filters": ["Province == XX"]}', "empty_selection", ("no row has Province == 'XX'",
                                                                             "Some of its values: ['AB'")),
        (b'{"demographic_filters": ["income > 5"]}', "unknown_column", ("'income'", "Did you mean 'Income'?")),
        (b'{"target": "mortgage_approvals"}', "unknown_column", ("Did you mean 'Mortgage_Approvals'?",)),
        (b'{"demographic_filters": ["Income > rich"]}', "invalid_filter", ("numeric", "rich")),
        (b'{"demographic_filters": ["Province > ON"]}', "invalid_filter", ("Province", "==")),
        (b'{"demographic_filters": ["high Province"]}', "invalid_filter", ("numeric",)),
        (b'{"sample_size": 0}', "invalid_request", ("sample_size",)),
        (b'{"sample_size": 100000000}', "too_many_rows", ("MAX_ROWS",)),
        (b'{"analysis_type": "magic"}', "invalid_request", ("analysis_type",)),
        (b'{"data": [{"Income": [1, 2]}]}', "invalid_request", ("data[0]['Income']",)),
        (b'{"data": []}', "invalid_request", ("data",)),
        (b'{"data": [{"Age": 30}, {"income": 5}]}', "invalid_request", ("data rows [1]", "Did you mean 'Income'?")),
    ],
)
def test_bad_analysis_request_is_rejected_and_not_enqueued(web_only: Stack, body: bytes, code: str,
                                                           words: tuple[str, ...]) -> None:
    """Each invalid /analyze body gets a 400 naming the problem, and the queue stays empty."""
    status, answer, _ = web_only.request("POST", "/analyze", raw=body, headers={"Content-Type": "application/json"})
    assert status == 400, answer
    assert_error(answer, code, *words)
    assert queued_jobs(web_only) == 0


def test_oversized_body_gets_413(redis_server: RedisServer) -> None:
    """A body larger than MAX_UPLOAD_MB is refused with 413 upload_too_large in the canonical shape, naming the
    setting and its value (Waitress's own limit is above the app's, so the app answers)."""
    small = Stack(redis_server, env={"MAX_UPLOAD_MB": "0.01"}).start_web()
    try:
        status, answer, _ = small.request("POST", "/analyze", raw=b'{"data": [' + b'{"Income": 1},' * 2000 + b"]}",
                                          headers={"Content-Type": "application/json"})
        assert status == 413
        assert_error(answer, "upload_too_large", "MAX_UPLOAD_MB", "0.01 MiB")
        assert queued_jobs(small) == 0
        csv = b"a,b\n" + b"1,2\n" * 20_000  # 80 KB: over the app's limit, far under Waitress's
        status, answer, _ = small.request("PUT", "/datasets/big", raw=csv, headers={"Content-Type": "text/csv"})
        assert status == 413
        assert_error(answer, "upload_too_large", "MAX_UPLOAD_MB")
    finally:
        small.stop()


@pytest.mark.parametrize(
    ("csv", "words"),
    [
        (b"", ("empty",)),
        (b"a,,c\n1,2,3\n", ("empty column names",)),
        (b"a,b,a\n" + b"1,2,3\n" * 20, ("repeats", "a")),
        (b"a,b\n1,2\n", ("at least 10",)),
        (b"only\n" + b"1\n" * 20, ("two columns",)),
    ],
)
def test_bad_csv_upload_is_rejected(web_only: Stack, csv: bytes, words: tuple[str, ...]) -> None:
    """A CSV with a bad header, duplicated column, too few rows or columns gets 400 saying what to change."""
    status, answer, _ = web_only.request("PUT", "/datasets/bad", raw=csv, headers={"Content-Type": "text/csv"})
    assert status == 400, answer
    assert_error(answer, "invalid_dataset", *words)
    assert web_only.request("GET", "/metadata?dataset=bad")[0] == 400


def test_upload_options_must_name_existing_columns(web_only: Stack) -> None:
    """id_columns, exclude_columns and default_target naming unknown columns are rejected (with the name in
    its case when it differs only in case)."""
    csv = b"x,y\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(20))
    status, answer, _ = web_only.request("PUT", "/datasets/opts?default_target=z", raw=csv,
                                         headers={"Content-Type": "text/csv"})
    assert status == 400
    assert_error(answer, "unknown_column", "default_target", "z")
    status, answer, _ = web_only.request("PUT", "/datasets/opts?default_target=Y", raw=csv,
                                         headers={"Content-Type": "text/csv"})
    assert status == 400
    assert_error(answer, "unknown_column", "default_target", "Did you mean 'y'?")


def test_unknown_job_is_404(web_only: Stack) -> None:
    """An unknown job id gets 404 in the canonical shape."""
    status, answer, _ = web_only.request("GET", "/job_status/does-not-exist")
    assert status == 404
    assert_error(answer, "not_found", "does-not-exist")


def test_unknown_route_is_404_json(web_only: Stack) -> None:
    """Even Flask's own 404 leaves in the canonical error shape."""
    status, answer, _ = web_only.request("GET", "/no/such/route")
    assert status == 404
    assert_error(answer, "not_found")


@pytest.fixture
def keyed(redis_server: RedisServer) -> Iterator[Stack]:
    running = Stack(redis_server, env={"API_KEY": "s3cret-key"}).start_web()
    yield running
    running.stop()


def test_missing_api_key_is_401(keyed: Stack) -> None:
    """Without X-API-KEY, protected endpoints answer 401."""
    status, answer, _ = http("POST", keyed.base + "/analyze", {})
    assert status == 401
    assert_error(answer, "unauthorized", "X-API-KEY")


def test_wrong_api_key_is_401(keyed: Stack) -> None:
    """A wrong key answers 401 and enqueues nothing."""
    status, answer, _ = http("POST", keyed.base + "/analyze", {}, headers={"X-API-KEY": "wrong"})
    assert status == 401
    assert_error(answer, "unauthorized", "Wrong")
    assert queued_jobs(keyed) == 0


def test_api_key_header_name_is_case_insensitive(keyed: Stack) -> None:
    """x-api-key in any case is accepted."""
    status, answer, _ = http("GET", keyed.base + "/datasets", headers={"x-Api-kEy": "s3cret-key"})
    assert status == 200, answer


def test_ping_and_health_are_public(keyed: Stack) -> None:
    """/ping and /health answer without a key."""
    assert http("GET", keyed.base + "/ping")[0] == 200
    assert http("GET", keyed.base + "/health")[0] == 200
