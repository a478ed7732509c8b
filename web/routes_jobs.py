"""DELETE /job_status/<id>: cancel a queued job, stop a running one (RQ's own cancel and stop-job command)."""

from __future__ import annotations

import contextlib
import time

import redis
from flask import Blueprint
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from common import callbacks, jobstates
from common.errors import JobAlreadyEnded
from common.rqtypes import JSONJob
from web.answers import envelope, fetch, snapshot
from web.responses import json_response
from web.services import Services, services

blueprint = Blueprint("jobs", __name__)

STOP_WAIT_SECONDS = 5.0  # how long the answer waits for a running job's horse to stop
_NOT_STARTED = frozenset({jobstates.QUEUED, jobstates.DEFERRED, jobstates.SCHEDULED})


def _cancel_waiting(svc: Services, job: Job) -> str:
    """Cancel the job if it has not started, atomically against a worker taking it (WATCH on its hash).
    Returns the status it had when the cancel was decided."""
    with svc.redis.pipeline() as pipe:
        while True:
            try:
                pipe.watch(job.key)
                raw = pipe.hget(job.key, "status")
                status = raw.decode() if isinstance(raw, bytes) else str(raw)
                if status not in _NOT_STARTED:
                    return status
                pipe.multi()
                job.cancel(pipeline=pipe)
                pipe.execute()
                return jobstates.CANCELED
            except redis.WatchError:
                continue


def _stop_running(svc: Services, job_id: str) -> None:
    """Send RQ's stop-job command to the worker running the job; a job that has just started may not name
    its worker yet, so this tries for a moment."""
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while True:
        try:
            send_stop_job_command(svc.redis, job_id, serializer=JSONSerializer)
            return
        except InvalidJobOperation:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _drop_callback(svc: Services, job_id: str) -> None:
    """A canceled or stopped analysis never starts its callback (RQ starts it only after finished or
    failed): cancel the waiting notification instead of leaving it deferred until its ttl."""
    with contextlib.suppress(NoSuchJobError, InvalidJobOperation):
        notification = JSONJob.fetch(callbacks.notification_id(job_id), connection=svc.redis)
        if notification.get_status(refresh=False) == jobstates.DEFERRED:
            notification.cancel()


def _wait_terminal(svc: Services, job_id: str) -> str:
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while (status := snapshot(svc, job_id).status) not in jobstates.TERMINAL and time.monotonic() < deadline:
        time.sleep(0.05)
    return status


@blueprint.delete("/job_status/<job_id>")
def cancel_job(job_id: str):
    """200 with the job's status once it is `canceled` (it had not started) or `stopped` (its work horse
    was stopped); 202 while a stop is still under way after STOP_WAIT_SECONDS; 409 when it had ended."""
    svc = services()
    job = fetch(svc, job_id)
    status = _cancel_waiting(svc, job)
    if status == jobstates.STARTED:
        with contextlib.suppress(InvalidJobOperation):  # it ended meanwhile: the status read below tells how
            _stop_running(svc, job_id)
        _wait_terminal(svc, job_id)
    elif status != jobstates.CANCELED:
        raise JobAlreadyEnded(f"Job {job_id!r} has already ended ({status}); only a queued or running job "
                              "can be cancelled.", details={"status": status})
    ended = snapshot(svc, job_id)
    if ended.status in (jobstates.CANCELED, jobstates.STOPPED):
        _drop_callback(svc, job_id)
    if ended.status in (jobstates.FINISHED, jobstates.FAILED):
        raise JobAlreadyEnded(f"Job {job_id!r} ended ({ended.status}) before it could be stopped.",
                              details={"status": ended.status})
    return json_response(envelope(ended, ended.status), 200 if ended.status in jobstates.TERMINAL else 202)
