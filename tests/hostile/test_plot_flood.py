"""Issue 22, finding 3: plot renders queued without bound (400 distinct waterfall requests on one job
queued 397 render jobs). PLOT_QUEUE_PER_JOB and PLOT_QUEUE_MAX now bound them: beyond, a 429
too_many_renders with Retry-After; identical requests share one render; analyses still go first."""

from __future__ import annotations

import pytest

from common.rqtypes import JSONJob, JSONQueue
from devtools import look_table
from devtools.stack import Stack
from devtools.waiting import wait_until
from tests.hostile.helpers import assert_refusal

LIMITS = {"PLOT_QUEUE_PER_JOB": "3", "PLOT_QUEUE_MAX": "5"}


def plot(stack: Stack, job_id: str, max_display: int) -> tuple[int, dict, dict[str, str]]:
    return stack.request("GET", f"/job_status/{job_id}/plots/bar?max_display={max_display}")


def admitted(stack: Stack, job_id: str, max_display: int) -> str:
    """The render job id of a plot the service admits (202)."""
    status, body, _ = plot(stack, job_id, max_display)
    assert status == 202, body
    return str(body["job_id"])


def stop_workers(stack: Stack) -> None:
    for process in stack.workers:
        process.terminate()
        process.wait(30)
    stack.workers.clear()


def test_renders_beyond_the_limits_are_429_and_identical_ones_share_a_render(stack_with) -> None:
    stack: Stack = stack_with(LIMITS, workers=1)
    status, answer, _ = stack.request("PUT", f"/datasets/look{look_table.UPLOAD_QUERY}",
                                      raw=look_table.csv_bytes(), headers={"Content-Type": "text/csv"})
    assert status in (200, 201), answer
    first, second = (stack.analyze({"dataset": "look", "target": target}) for target in look_table.TARGETS[:2])
    for job_id in (first, second):
        assert stack.wait_job(job_id)["status"] == "finished"
    stop_workers(stack)  # nothing draws from now on: every render admitted stays queued
    plots = JSONQueue(stack.settings.plots_queue_name, connection=stack.redis())

    renders = [admitted(stack, first, max_display) for max_display in (1, 2, 3)]
    status, body, headers = plot(stack, first, 4)
    assert_refusal(status, body, 429, "too_many_renders")
    assert "PLOT_QUEUE_PER_JOB" in body["error"] and int(headers["Retry-After"]) >= 1, (body, headers)
    status, body, _ = plot(stack, first, 1)  # the same plot again: the render already queued, no new place
    assert status == 202 and body["job_id"] == renders[0], body

    renders += [admitted(stack, second, max_display) for max_display in (1, 2)]
    status, body, headers = plot(stack, second, 3)
    assert_refusal(status, body, 429, "too_many_renders")
    assert "PLOT_QUEUE_MAX" in body["error"] and int(headers["Retry-After"]) >= 1, (body, headers)
    for max_display in range(5, 40):  # a flood: every one refused, nothing more queued
        assert plot(stack, first, max_display)[0] == 429
    assert plots.count == 5

    # analyses keep their priority: one enqueued behind the five renders is taken first
    third = stack.analyze({"dataset": "look", "target": look_table.TARGETS[2]})
    stack.start_workers(1)
    assert stack.wait_job(third)["status"] == "finished"
    wait_until(lambda: plots.count == 0 and all(
        JSONJob.fetch(r, connection=stack.redis()).get_status() == "finished" for r in renders), 120,
        message="the renders to be drawn")
    analysis_started = JSONJob.fetch(third, connection=stack.redis()).started_at
    assert all(JSONJob.fetch(r, connection=stack.redis()).started_at > analysis_started for r in renders)
    status, body, _ = plot(stack, first, 4)  # the places are free again
    assert status in (200, 202), body


@pytest.mark.parametrize("status", [429, 503])
def test_the_python_client_retries_429_like_503_after_retry_after(status: int) -> None:
    import httpx
    from shap_client import Client
    from shap_client.errors import ServiceUnavailable, TooManyRequests

    answers = [httpx.Response(status, headers={"Retry-After": "0"}, json={
        "success": False, "error": "busy", "code": "too_many_renders" if status == 429 else "redis_unavailable"}),
        httpx.Response(200, json={"status": "ok"})]
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return answers.pop(0)

    with Client("http://test", transport=httpx.MockTransport(handler), retries=2) as client:
        assert client.ping() == {"status": "ok"}
    assert len(calls) == 2
    answers[:] = [httpx.Response(status, headers={"Retry-After": "0"}, json={"success": False, "error": "busy",
                                                                            "code": "x"})] * 3
    with Client("http://test", transport=httpx.MockTransport(handler), retries=1) as client, \
            pytest.raises(TooManyRequests if status == 429 else ServiceUnavailable):
        client.ping()
