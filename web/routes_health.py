"""GET /ping (touches nothing but this process) and GET /health (Redis, workers, queue)."""

from __future__ import annotations

import logging
import os
import time

from flask import Blueprint

from common import __version__
from common.redis_conn import REDIS_UNREACHABLE
from fleet import queue_stats
from fleet.liveness import all_verdicts, live_workers
from web.error_handler import retry_later
from web.responses import json_response
from web.services import services

blueprint = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def memory_usage_mb() -> float:
    with open("/proc/self/statm") as handle:
        resident_pages = int(handle.read().split()[1])
    return round(resident_pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024, 1)


@blueprint.get("/ping")
def ping():
    return json_response({"status": "ok", "message": "shap-microservice is running",
                          "timestamp": time.time(), "version": __version__})


@blueprint.get("/health")
def health():
    svc = services()
    body = {"status": "ok", "redis_connected": True, "workers": {"active": 0, "total": 0, "analysis": 0},
            "queue": {"queued": 0, "started": 0, "failed": 0}, "version": __version__,
            "memory_usage_mb": memory_usage_mb()}
    try:
        verdicts = all_verdicts(svc.redis)
        counts = queue_stats.counts(svc.redis, svc.settings.queue_name)
        # the maintenance worker is live too, but runs no analysis: degraded counts the analysis workers
        analysis = sum(svc.settings.queue_name in worker.queue_names()
                       for worker, _ in live_workers(svc.redis, verdicts))
        body["workers"] = {"active": sum(v.live for v in verdicts), "total": len(verdicts), "analysis": analysis}
        body["queue"] = {"queued": counts["queued_jobs"], "started": counts["in_progress_jobs"],
                         "failed": counts["failed_jobs"]}
        body["redis_memory"] = queue_stats.redis_memory(svc.redis)
    except REDIS_UNREACHABLE as exc:  # public: the body names no address, the log keeps the detail
        log.warning("/health: Redis is unreachable: %s", exc)
        body.update(status="unavailable", redis_connected=False,
                    error="Redis is unreachable; the service retries, check again in a few seconds.")
        return retry_later(json_response(body, 503))
    if body["workers"]["analysis"] == 0:  # type: ignore[index]
        body["status"] = "degraded"
    return json_response(body)
