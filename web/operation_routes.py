"""The operator's routes: GET /ping (touches nothing but this process), GET /health (Redis, workers, queue),
GET /metrics (Prometheus text format, web.telemetry), GET /worker-status, GET /admin/redis_ping,
GET /admin/queue_status and POST /admin/cleanup_jobs[?dry_run=1].

When Redis is unreachable each route but /ping answers 503 with Retry-After: /health with its own body,
the others with the one error shape (the app's error handler); /admin/redis_ping and /admin/queue_status
add their own fields to that body."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import orjson
from flask import Blueprint, Response, request

from common import __version__, metrics
from common.errors import InvalidRequest, ServiceError
from common.redis_conn import REDIS_UNREACHABLE
from fleet import cleanup, queue_stats
from fleet.liveness import all_verdicts, live_workers
from web.api_docs import Tag, documented
from web.error_handler import error_response, retry_later, to_service_error
from web.responses import json_response
from web.services import services
from web.telemetry import RedisCollector

blueprint = Blueprint("operations", __name__)
log = logging.getLogger(__name__)

_YES, _NO = {"1", "true", "yes"}, {"0", "false", "no", ""}


class CleanupBusy(ServiceError):
    status = 409
    code = "cleanup_in_progress"


def memory_usage_mb() -> float:
    with open("/proc/self/statm") as handle:
        resident_pages = int(handle.read().split()[1])
    return round(resident_pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024, 1)


@blueprint.get("/ping")
@documented(Tag.HEALTH, {200: "Ping"}, public=True)
def ping() -> Response:
    """Liveness: touches nothing but the web process."""
    return json_response({"status": "ok", "message": "shap-microservice is running",
                          "timestamp": time.time(), "version": __version__})


@blueprint.get("/health")
@documented(Tag.HEALTH, {200: "Health", 503: "Health"}, public=True)
def health() -> Response:
    """Redis, live workers and queue depth: 200 (ok, or degraded without a live worker); 503 without Redis."""
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


def _unavailable(exc: Exception, extra: dict[str, Any]) -> Response:
    """The canonical 503 (body and Retry-After) for an unreachable Redis, with endpoint-specific fields added."""
    return error_response(to_service_error(exc), extra)


@blueprint.get("/worker-status")
@documented(Tag.OPERATIONS, {200: "WorkerStatus"}, 401, 503)
def worker_status() -> Response:
    """The live workers, from RQ's records (stale ones excluded)."""
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
@documented(Tag.OPERATIONS, {200: "RedisPing"}, 401, 503)
def redis_ping() -> Response:
    """Whether Redis answers, and how fast."""
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
@documented(Tag.OPERATIONS, {200: "QueueStatus"}, 401, 503)
def queue_status() -> Response:
    """How many analysis jobs are in each state."""
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
@documented(Tag.OPERATIONS, {200: "CleanupReport"}, 401, 409, 503, query="CleanupQuery")
def cleanup_jobs() -> Response:
    """Run the repair now (requeue or fail orphaned jobs, remove stale workers); dry_run=1 only reports;
    409 cleanup_in_progress while another run holds the lock."""
    svc = services()
    report = cleanup.run_cleanup(svc.redis, svc.settings, dry_run=_dry_run(),
                                 wait_for_lock=min(10.0, svc.settings.redis_timeout * 2))
    if not report.ran:
        raise CleanupBusy("Another cleanup run holds the lock and did not finish in time; retry in a few seconds.")
    return json_response(report.summary())


@blueprint.get("/metrics")
@documented(Tag.OPERATIONS, {200: None}, 401, 503)
def metrics_scrape() -> Response:
    """Prometheus metrics of the web and every worker (text exposition format)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

    svc = services()
    shared = metrics.shared_directory()
    samples = CollectorRegistry()
    if shared is not None:  # every program's samples, merged
        multiprocess.MultiProcessCollector(samples, path=str(shared))
    redis_facts = CollectorRegistry()
    redis_facts.register(RedisCollector(svc))
    body = generate_latest(samples if shared is not None else REGISTRY) + generate_latest(redis_facts)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
