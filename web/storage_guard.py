"""Room in Redis for new work: from SOFT_LIMIT of Redis's maxmemory (REDIS_MAXMEMORY_MB for the embedded one)
the web refuses uploads, analyses and plot renders with 507 insufficient_storage, saying what to delete, so the
writes already under way (RQ's heartbeats and job states, a running job's result) always find room below the
hard limit, where Redis itself refuses writes (noeviction). docs/operations.md, "Redis memory"."""

from __future__ import annotations

from typing import Any

from common.errors import RedisOutOfMemory
from web.services import Services

SOFT_LIMIT = 0.9


def check_room(svc: Services, what: str) -> None:
    """Raise 507 when Redis holds SOFT_LIMIT of its maxmemory or more; `what` names the refused work."""
    info: Any = svc.redis.info("memory")
    limit, used = int(info.get("maxmemory") or 0), int(info.get("used_memory") or 0)
    if limit and used >= SOFT_LIMIT * limit:
        raise RedisOutOfMemory(
            f"Redis holds {used / 2**20:.0f} MiB of its {limit / 2**20:.0f} MiB (REDIS_MAXMEMORY_MB); {what} is "
            f"refused above {SOFT_LIMIT:.0%} so that running jobs can finish. Delete datasets you no longer need "
            "(DELETE /datasets/<name>: their models and results go with them), or give Redis more memory "
            "(REDIS_MAXMEMORY_MB), then retry.",
            details={"used_bytes": used, "maxmemory_bytes": limit})
