"""Structured logs: JSON lines with job_id while a job runs, X-Request-ID returned, stored on the job and
carried by the job's log lines (real web, Redis and a forking worker)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from common import logs
from common.rqtypes import JSONJob
from devtools.redis_server import RedisServer
from devtools.stack import Stack


def header(headers: dict[str, str], name: str) -> str:
    """Header names are case-insensitive (Waitress sends X-Request-Id)."""
    return next(value for key, value in headers.items() if key.lower() == name.lower())


@pytest.fixture
def json_stack(redis_server: RedisServer) -> Iterator[Stack]:
    running = Stack(redis_server, env={"LOG_FORMAT": "json"}).start_web().start_workers(1)
    yield running
    running.stop()


def test_a_json_line_carries_the_bound_job_and_request():
    """The JSON formatter writes one object with the context bound in this process."""
    logs.bind(job_id="job-1", request_id="req-1")
    try:
        entry = logging.LogRecord("shap.test", logging.INFO, __file__, 1, "hello %s", ("there",), None)
        logs.ContextFilter().filter(entry)
        line = logs.JSONFormatter("t").format(entry)
    finally:
        logs.unbind(*logs.CONTEXT_FIELDS)
    parsed = json.loads(str(line))
    assert {k: parsed[k] for k in ("level", "process", "logger", "message", "job_id", "request_id")} == {
        "level": "INFO", "process": "t", "logger": "shap.test", "message": "hello there", "job_id": "job-1",
        "request_id": "req-1"}


@pytest.mark.parametrize(("value", "kept"), [("req-1.a_b:c", True), ("x" * 128, True), ("x" * 129, False),
                                             ("", False), ("has space", False), ("caf\u00e9", False), (None, False)])
def test_a_client_request_id_is_kept_only_when_it_is_a_short_plain_token(value: str | None, kept: bool):
    """Longer ids, spaces and non-ASCII are replaced by a generated id."""
    assert logs.valid_request_id(value) is kept


def test_a_request_id_ties_the_request_to_the_jobs_log_lines(json_stack: Stack):
    """The id is echoed, stored on the job, and on the worker's JSON lines with the job's id."""
    status, body, headers = json_stack.request("POST", "/analyze", {"data": [{"Income": 60000, "Age": 40}]},
                                               headers={"X-Request-ID": "client-req-42"})
    assert status == 202 and header(headers, "X-Request-ID") == "client-req-42"
    job_id = body["job_id"]
    assert json_stack.wait_job(job_id)["status"] == "finished"
    assert JSONJob.fetch(job_id, connection=json_stack.redis()).meta["request_id"] == "client-req-42"
    lines = [json.loads(line) for line in json_stack.worker_logs().splitlines() if line.strip()]
    during = [line for line in lines if line.get("job_id") == job_id]
    assert during and all(line["request_id"] == "client-req-42" for line in during)
    naming_it = [line for line in lines if job_id in line["message"]]  # RQ's announcement of the job included
    assert naming_it and all(line.get("job_id") == job_id for line in naming_it), naming_it
    assert {line["process"] for line in lines} == {"shap-worker"}


def test_a_request_without_a_usable_id_gets_a_generated_one(json_stack: Stack):
    """No header, or an unusable one: a fresh 32-hex id is returned."""
    for headers in ({}, {"X-Request-ID": "not a token"}):
        _, _, answer = json_stack.request("GET", "/ping", headers=headers)
        made = header(answer, "X-Request-ID")
        assert len(made) == 32 and int(made, 16) >= 0
