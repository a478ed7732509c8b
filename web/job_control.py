"""How DELETE /job_status/<id> (web.job_routes) ends a job: cancel it if it has not started, atomically
against a worker taking it; stop it if it runs (RQ's stop-job command), waiting a moment for it to end;
and cancel its waiting callback notification (docs/decisions/0016-honest-cancels.md)."""

from __future__ import annotations

import contextlib
import time

import redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from common import callbacks, jobstates
from common.rqtypes import JSONJob
from store import dataset_store
from web.answers import snapshot
from web.services import Services

STOP_WAIT_SECONDS = 5.0  # how long the answer waits for a running job's horse to stop
_NOT_STARTED = frozenset({jobstates.QUEUED, jobstates.DEFERRED, jobstates.SCHEDULED})


def cancel_waiting(svc: Services, job: Job) -> str:
    """Cancel the job if it has not started, atomically against a worker taking it: both WATCH the job's
    hash, and a worker runs a job only if it is not `canceled`, marking it `started` in the same transaction
    (worker.rq_worker.ShapWorker.take), so `canceled` here means it never runs. Returns the status it had
    when the cancel was decided."""
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
                break
            except redis.WatchError:
                continue
    version = dataset_store.pinned_version(job)  # it never runs: its dataset version is free of it
    if version is not None:
        dataset_store.release(svc.redis, version, job.id)
    return jobstates.CANCELED


def stop_running(svc: Services, job_id: str) -> None:
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


def drop_callback(svc: Services, job_id: str) -> None:
    """A canceled or stopped analysis never starts its callback (RQ starts it only after finished or
    failed): cancel the waiting notification instead of leaving it deferred until its ttl."""
    with contextlib.suppress(NoSuchJobError, InvalidJobOperation):
        notification = JSONJob.fetch(callbacks.notification_id(job_id), connection=svc.redis)
        if notification.get_status(refresh=False) == jobstates.DEFERRED:
            notification.cancel()


def wait_terminal(svc: Services, job_id: str) -> str:
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while (status := snapshot(svc, job_id).status) not in jobstates.TERMINAL and time.monotonic() < deadline:
        time.sleep(0.05)
    return status
