"""Counts of a queue's jobs by state, from RQ's registries in one round trip (no registry clean-up)."""

from __future__ import annotations

import redis

from common.rqtypes import JSONQueue


def counts(client: redis.Redis, queue_name: str) -> dict[str, int]:
    """`queued_jobs`, `in_progress_jobs`, `completed_jobs`, `failed_jobs`, `scheduled_jobs`, `deferred_jobs`."""
    queue = JSONQueue(queue_name, connection=client)
    registries = {
        "in_progress_jobs": queue.started_job_registry,
        "completed_jobs": queue.finished_job_registry,
        "failed_jobs": queue.failed_job_registry,
        "scheduled_jobs": queue.scheduled_job_registry,
        "deferred_jobs": queue.deferred_job_registry,
    }
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(queue.key)
        for registry in registries.values():
            pipe.zcard(registry.key)
        queued, *sizes = pipe.execute()
    return {"queued_jobs": int(queued)} | {name: int(size) for name, size in zip(registries, sizes, strict=True)}
