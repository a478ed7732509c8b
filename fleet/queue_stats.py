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


def redis_memory(client: redis.Redis) -> dict[str, int | float | None]:
    """Redis's memory use against its `maxmemory` (None when unlimited) and the fraction used."""
    info: dict = client.info("memory")
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0)) or None
    return {"used_bytes": used, "maxmemory_bytes": limit,
            "used_fraction": round(used / limit, 4) if limit else None,
            "policy": info.get("maxmemory_policy")}
