"""RQ state made by RQ's own calls, for fault injection: worker records, jobs started on them, stopped
heartbeats, orphaned jobs; and reading RQ's record of a job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq.utils import utcformat

from devtools.waiting import wait_until


def job_hash(client: redis.Redis, job_id: str) -> dict[str, str]:
    """RQ's record of a job (rq:job:<id>) with its text fields decoded; binary fields are left out."""
    fields = {}
    raw: dict[bytes, bytes] = client.hgetall(f"rq:job:{job_id}")  # type: ignore[assignment]
    for key, value in raw.items():
        try:
            fields[key.decode()] = value.decode()
        except UnicodeDecodeError:
            continue
    return fields


def rq_worker(client: redis.Redis, queue_name: str, name: str | None = None, *, listening: bool = True) -> Any:
    """A real RQ worker record, born with RQ's own calls and (if `listening`) subscribed to its pubsub
    channel, in this process and without forking: what the liveness rule sees of a live worker."""
    from fleet.naming import unique_name
    from worker.rq_worker import build_worker

    worker = build_worker(client, [queue_name], name or unique_name("test-worker"))
    worker.register_birth()
    if listening:
        worker.subscribe()
        wait_until(lambda: client.pubsub_numsub(worker.pubsub_channel_name)[0][1] > 0, 10,
                   message="pubsub subscription")
    return worker


def begin_execution(worker: Any, queue_name: str) -> Any:
    """Dequeue the next job of `queue_name` and start it exactly as RQ's parent and work horse do,
    without running it: the job is then `started` on `worker`."""
    from common.rqtypes import JSONJob, JSONQueue

    queue = JSONQueue(queue_name, connection=worker.connection)
    dequeued = JSONQueue.dequeue_any([queue], None, connection=worker.connection, job_class=JSONJob)
    assert dequeued is not None, f"no job waiting in {queue_name}"
    job = dequeued[0]
    worker.prepare_execution(job)
    worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
    return job


def backdate_heartbeat(client: redis.Redis, worker_name: str, seconds: float) -> None:
    """Make a worker record look as if its last heartbeat was `seconds` ago (a process that stopped)."""
    stamp = utcformat(datetime.now(UTC) - timedelta(seconds=seconds))
    client.hset(f"rq:worker:{worker_name}", mapping={"last_heartbeat": stamp, "birth": stamp})


def orphan_queued_job(client: redis.Redis, queue_name: str) -> tuple[Any, str]:
    """Start the next queued job of `queue_name` on a worker record that then 'dies' (it never listens or
    heartbeats again): the state a SIGKILLed container leaves behind. Returns (job, dead worker name).
    Stop the service's own workers first, or they take the job."""
    from fleet.liveness import HEARTBEAT_DEADLINE

    worker = rq_worker(client, queue_name, listening=False)
    job = begin_execution(worker, queue_name)
    backdate_heartbeat(client, worker.name, HEARTBEAT_DEADLINE + 30)
    return job, worker.name


def model_lock_held(client: redis.Redis) -> bool:
    """Somebody is training a model right now (the model-training lock exists)."""
    return any(True for _ in client.scan_iter(match="shap:lock:model:*"))
