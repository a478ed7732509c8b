"""Counts of a queue's jobs by state, from RQ's registries in one round trip."""

from __future__ import annotations

import redis
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from common.rqtypes import JSONQueue


def counts(client: redis.Redis, queue_name: str) -> dict[str, int]:
    queue = JSONQueue(queue_name, connection=client)
    registries = {
        "in_progress_jobs": StartedJobRegistry(queue_name, connection=client),
        "completed_jobs": FinishedJobRegistry(queue_name, connection=client),
        "failed_jobs": FailedJobRegistry(queue_name, connection=client),
        "scheduled_jobs": ScheduledJobRegistry(queue_name, connection=client),
        "deferred_jobs": DeferredJobRegistry(queue_name, connection=client),
    }
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(queue.key)
        for registry in registries.values():
            pipe.zcard(registry.key)
        queued, *sizes = pipe.execute()
    return {"queued_jobs": int(queued)} | {name: int(size) for name, size in zip(registries, sizes, strict=True)}
