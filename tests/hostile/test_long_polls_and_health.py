"""Findings 4 and 8: long polls never take the last web threads, and /health's 503 names no address."""

from __future__ import annotations

import threading
import time

from devtools.http import http
from devtools.waiting import wait_until
from tests.hostile.helpers import assert_refusal

WEB_THREADS = 8


def _timed_ms(method: str, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    status, _, _ = http(method, url, timeout=30)
    return (time.perf_counter() - started) * 1000, status


def test_ping_and_a_plain_poll_answer_while_long_polls_fill_the_threads(stack_with) -> None:
    """WEB_THREADS + 4 long polls of a job that does not end: /ping and a poll without wait answer in
    under 100 ms, and the polls beyond LONG_POLL_LIMIT answer the current state at once."""
    stack = stack_with({"WEB_THREADS": str(WEB_THREADS)}, workers=0)  # no worker: the job stays queued
    job_id = stack.analyze({"target_variable": "Mortgage_Approvals"})
    answers: list[tuple[float, int]] = []

    def long_poll() -> None:
        answers.append(_timed_ms("GET", f"{stack.base}/job_status/{job_id}?wait=8"))

    pollers = [threading.Thread(target=long_poll, daemon=True) for _ in range(WEB_THREADS + 4)]
    for poller in pollers:
        poller.start()
    limit = stack.settings.effective_long_poll_limit
    # every poll is in: LONG_POLL_LIMIT of them wait, the rest have answered
    wait_until(lambda: len(answers) >= len(pollers) - limit, 30, message="the polls beyond the limit to answer")
    probes = [_timed_ms("GET", f"{stack.base}/ping") for _ in range(10)]
    probes += [_timed_ms("GET", f"{stack.base}/job_status/{job_id}") for _ in range(10)]
    for poller in pollers:
        poller.join(30)
    assert all(status == 200 for _, status in probes + answers)
    assert max(ms for ms, _ in probes) < 100, probes
    assert limit < WEB_THREADS
    quick = [ms for ms, _ in answers if ms < 2000]
    assert len(quick) == len(answers) - limit, sorted(ms for ms, _ in answers)


def test_health_names_no_redis_address_when_redis_is_down(stack_with) -> None:
    """The public /health 503 says Redis is unreachable, without its socket path, host or port."""
    stack = stack_with(workers=0)
    port = str(stack.redis_server.port)
    stack.redis_server.stop()
    status, body, headers = http("GET", stack.base + "/health", timeout=30)
    assert status == 503 and body["redis_connected"] is False, body
    assert headers["Retry-After"] == "5"  # as the OpenAPI document declares on every 503
    assert port not in str(body) and "127.0.0.1" not in str(body) and ".sock" not in str(body), body
    status, body, _ = http("GET", stack.base + "/job_status/x", timeout=30)
    assert_refusal(status, body, 503, "redis_unavailable")
    assert port not in str(body)
