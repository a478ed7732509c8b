"""DELETE /job_status/<id> through the real web, Redis and a forking worker: canceled, stopped, 409."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest

from common.rqtypes import JSONQueue
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from devtools.waiting import wait_until


@pytest.fixture
def one_worker(redis_server: RedisServer) -> Iterator[Stack]:
    running = Stack(redis_server).start_web().start_workers(1)
    yield running
    running.stop()


def occupy_worker(stack: Stack, seconds: int = 60) -> str:
    """A real RQ job that keeps the only worker's horse busy (sleeping in Python, so it can be stopped)."""
    queue = JSONQueue(stack.settings.queue_name, connection=stack.redis())
    job = queue.enqueue("time.sleep", args=[seconds], job_timeout=seconds + 30)
    wait_until(lambda: job.get_status(refresh=True) == "started", 30, message="the sleeping job to start")
    return job.id


def test_a_queued_job_is_canceled_and_a_running_one_stopped(one_worker: Stack):
    """A queued analysis ends canceled at once; the running job ends stopped through RQ's stop command."""
    running = occupy_worker(one_worker)
    queued = one_worker.analyze({"target_variable": "Mortgage_Approvals"})
    status, body, _ = one_worker.request("DELETE", f"/job_status/{queued}")
    assert (status, body["status"], body["progress"]["stage"]) == (200, "canceled", "canceled")
    status, body, _ = one_worker.request("DELETE", f"/job_status/{running}")
    assert (status, body["status"]) == (200, "stopped"), body
    status, body, _ = one_worker.request("GET", f"/job_status/{queued}")
    assert (status, body["status"]) == (200, "canceled")


def test_cancelling_an_ended_job_is_409_with_the_one_error_body(one_worker: Stack):
    """A finished job cannot be cancelled: 409 job_already_ended, and it stays finished."""
    job_id = one_worker.analyze({"data": [{"Income": 60000, "Age": 40}]})
    assert one_worker.wait_job(job_id)["status"] == "finished"
    status, body, _ = one_worker.request("DELETE", f"/job_status/{job_id}")
    assert status == 409
    assert body == {"success": False, "error": body["error"], "code": "job_already_ended",
                    "details": {"status": "finished"}}
    assert one_worker.request("GET", f"/job_status/{job_id}")[1]["status"] == "finished"


def test_cancelling_an_unknown_job_is_404(one_worker: Stack):
    """An id that never existed is a 404 not_found."""
    status, body, _ = one_worker.request("DELETE", "/job_status/no-such-job")
    assert (status, body["code"]) == (404, "not_found")


def test_an_id_rq_could_not_have_made_is_404_and_touches_no_job(one_worker: Stack):
    """Found by schema fuzzing: such ids were a 500, and `<id>:<x>` reached the job `<id>` through RQ."""
    running = occupy_worker(one_worker)
    for job_id in ("j\u00f9\u00b4", f"{running}:x", "a b"):
        status, body, _ = one_worker.request("DELETE", f"/job_status/{urllib.parse.quote(job_id)}")
        assert (status, body["code"]) == (404, "not_found"), job_id
    assert one_worker.request("GET", f"/job_status/{running}")[1]["status"] == "started"
    assert one_worker.request("DELETE", f"/job_status/{running}")[1]["status"] == "stopped"
