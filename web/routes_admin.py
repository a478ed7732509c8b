"""Operator endpoints: GET /worker-status, GET /admin/redis_ping, GET /admin/queue_status,
POST /admin/cleanup_jobs[?dry_run=1].

When Redis is unreachable each answers 503 with the one error shape and Retry-After (the app's error
handler); /admin/redis_ping and /admin/queue_status add their own fields to that body.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from flask import Blueprint, Response, request

from common.errors import InvalidRequest, ServiceError
from common.redis_conn import REDIS_UNREACHABLE
from fleet import cleanup, queue_stats
from fleet.liveness import live_workers
from web.error_handler import error_response, to_service_error
from web.responses import json_response
from web.services import services

blueprint = Blueprint("admin", __name__)

_YES, _NO = {"1", "true", "yes"}, {"0", "false", "no", ""}


class CleanupBusy(ServiceError):
    status = 409
    code = "cleanup_in_progress"


def _unavailable(exc: Exception, extra: dict[str, Any]) -> Response:
    """The canonical 503 (body and Retry-After) for an unreachable Redis, with endpoint-specific fields added."""
    return error_response(to_service_error(exc), extra)


@blueprint.get("/worker-status")
def worker_status() -> Response:
    svc = services()
    workers: list[dict[str, Any]] = []
    for worker, verdict in live_workers(svc.redis):
        workers.append({
            "name": worker.name, "hostname": worker.hostname, "pid": worker.pid, "state": worker.get_state(),
            "queues": worker.queue_names(), "current_job": worker.get_current_job_id(),
            "last_heartbeat_seconds_ago": None if verdict.heartbeat_age is None else round(verdict.heartbeat_age, 1),
            "successful_jobs": worker.successful_job_count, "failed_jobs": worker.failed_job_count,
        })
    analysis = [w for w in workers if svc.settings.queue_name in w["queues"]]
    return json_response({"status": "ok" if analysis else "warning", "active_workers": len(analysis),
                          "total_workers": len(workers), "workers": workers})


@blueprint.get("/admin/redis_ping")
def redis_ping() -> Response:
    svc = services()
    started = time.perf_counter()
    try:
        answer = bool(svc.redis.ping())
    except REDIS_UNREACHABLE as exc:
        return _unavailable(exc, {"ping": False,
                                  "response_time_ms": round((time.perf_counter() - started) * 1000, 3)})
    return json_response({"success": answer, "ping": answer,
                          "response_time_ms": round((time.perf_counter() - started) * 1000, 3)})


@blueprint.get("/admin/queue_status")
def queue_status() -> Response:
    svc = services()
    try:
        counts = queue_stats.counts(svc.redis, svc.settings.queue_name)
        memory = queue_stats.redis_memory(svc.redis)
    except REDIS_UNREACHABLE as exc:
        return _unavailable(exc, {"queued_jobs": None, "in_progress_jobs": None, "completed_jobs": None,
                                  "failed_jobs": None, "scheduled_jobs": None, "redis_connected": False})
    return json_response(counts | {"redis_connected": True, "redis_memory": memory})


def _dry_run() -> bool:
    """`?dry_run=1`, or a JSON body `{"dry_run": true}`; any other body is refused (never ignored: a body
    asking for a dry run must not run a real cleanup)."""
    flag = request.args.get("dry_run", "0").strip().lower()
    if flag not in _YES | _NO:
        raise InvalidRequest("dry_run must be 1/true/yes or 0/false/no.")
    raw = request.get_data(cache=False)
    if not raw.strip():
        return flag in _YES
    try:
        body = orjson.loads(raw) if request.mimetype == "application/json" else None
    except orjson.JSONDecodeError:
        body = None
    # `{}` too: a body that says nothing about dry_run must not start a real repair
    if not isinstance(body, dict) or set(body) != {"dry_run"} or not isinstance(body["dry_run"], bool):
        raise InvalidRequest('The body of POST /admin/cleanup_jobs may only be the JSON object {"dry_run": true} '
                             'or {"dry_run": false} (sent as application/json), or empty with ?dry_run=1.')
    return flag in _YES or body["dry_run"]


@blueprint.post("/admin/cleanup_jobs")
def cleanup_jobs() -> Response:
    svc = services()
    report = cleanup.run_cleanup(svc.redis, svc.settings, dry_run=_dry_run(),
                                 wait_for_lock=min(10.0, svc.settings.redis_timeout * 2))
    if not report.ran:
        raise CleanupBusy("Another cleanup run holds the lock and did not finish in time; retry in a few seconds.")
    return json_response(report.summary())
