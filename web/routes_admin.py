"""Operator endpoints: GET /worker-status, GET /admin/redis_ping, GET /admin/queue_status,
POST /admin/cleanup_jobs[?dry_run=1]."""

from __future__ import annotations

import time

import redis.exceptions
from flask import Blueprint, request

from common.errors import InvalidRequest
from web.responses import json_response
from web.services import services
from worker import cleanup, queue_stats
from worker.liveness import live_workers

blueprint = Blueprint("admin", __name__)


@blueprint.get("/worker-status")
def worker_status():
    svc = services()
    workers = []
    for worker, verdict in live_workers(svc.redis):
        workers.append({
            "name": worker.name, "hostname": worker.hostname, "pid": worker.pid, "state": worker.state,
            "queues": worker.queue_names(), "current_job": worker.get_current_job_id(),
            "last_heartbeat_seconds_ago": round(verdict.heartbeat_age, 1) if verdict.heartbeat_age else None,
            "successful_jobs": worker.successful_job_count, "failed_jobs": worker.failed_job_count,
        })
    analysis = [w for w in workers if svc.settings.queue_name in w["queues"]]
    return json_response({"status": "ok" if analysis else "warning", "active_workers": len(analysis),
                          "total_workers": len(workers), "workers": workers})


@blueprint.get("/admin/redis_ping")
def redis_ping():
    svc = services()
    started = time.perf_counter()
    answer = svc.redis.ping()
    return json_response({"success": bool(answer), "ping": bool(answer),
                          "response_time_ms": round((time.perf_counter() - started) * 1000, 3)})


@blueprint.get("/admin/queue_status")
def queue_status():
    svc = services()
    try:
        counts = queue_stats.counts(svc.redis, svc.settings.queue_name)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return json_response({"queued_jobs": None, "in_progress_jobs": None, "completed_jobs": None,
                              "failed_jobs": None, "scheduled_jobs": None, "redis_connected": False}, 503)
    return json_response(counts | {"redis_connected": True})


@blueprint.post("/admin/cleanup_jobs")
def cleanup_jobs():
    svc = services()
    flag = request.args.get("dry_run", "0").lower()
    if flag not in {"0", "1", "true", "false", "yes", "no", ""}:
        raise InvalidRequest("dry_run must be 1/true/yes or 0/false/no.")
    dry_run = flag in {"1", "true", "yes"}
    report = cleanup.run_cleanup(svc.redis, svc.settings, dry_run=dry_run, wait_for_lock=min(
        10.0, svc.settings.redis_timeout * 2))
    return json_response(report.summary())
