"""The §6 repair: registry maintenance, jobs of dead workers, over-time jobs, stale worker records.

One run at a time across every container (a Redis lock). The scheduled job, POST /admin/cleanup_jobs
and scripts/repair_stuck_jobs.py all call `run_cleanup`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import orjson
import redis
from rq import worker_registration
from rq.command import send_stop_job_command
from rq.exceptions import NoSuchJobError
from rq.registry import StartedJobRegistry, clean_registries
from rq.serializers import JSONSerializer

from common import jobstates, keys
from common.rqtypes import JSONJob, JSONQueue
from common.settings import Settings
from worker import liveness

log = logging.getLogger(__name__)

CLEANUP_JOB_ID = "shap-scheduled-cleanup"  # fixed: re-registering after a restart never duplicates it
LOCK_TIMEOUT = 300


@dataclass
class StuckJob:
    job_id: str
    worker_name: str | None
    age_seconds: float | None
    reason: str
    action: str
    outcome: str | None = None


@dataclass
class CleanupReport:
    ran: bool
    dry_run: bool
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    stale_workers_removed: list[str] = field(default_factory=list)
    stuck_jobs: list[StuckJob] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"success": True, "ran": self.ran, "dry_run": self.dry_run,
                "requeued": len(self.requeued), "failed": len(self.failed) + len(self.stopped),
                "stale_workers_removed": len(self.stale_workers_removed),
                "details": {"requeued": self.requeued, "failed": self.failed, "stopped_over_time": self.stopped,
                            "stale_workers": self.stale_workers_removed,
                            "stuck_jobs": [asdict(s) for s in self.stuck_jobs]},
                "seconds": round(self.seconds, 4)}


def find_stuck_jobs(client: redis.Redis, queue_name: str, stuck_timeout: float,
                    dead_workers: set[str]) -> list[tuple[StuckJob, str]]:
    """Started jobs whose worker is dead or that run longer than `stuck_timeout`, with their registry entry."""
    registry = StartedJobRegistry(queue_name, connection=client, job_class=JSONJob, serializer=JSONSerializer)
    entries = registry.get_job_and_execution_ids(cleanup=False)
    worker_keys = liveness.registered_worker_keys(client)
    alive = {v.name for v in liveness.judge(client, worker_keys) if v.alive} - dead_workers
    now = datetime.now(UTC)
    found = []
    for job_id, execution_id in entries:
        composite = f"{job_id}:{execution_id}"
        try:
            job = JSONJob.fetch(job_id, connection=client)
        except NoSuchJobError:
            found.append((StuckJob(job_id, None, None, "job data expired", "drop"), composite))
            continue
        started = job.started_at.replace(tzinfo=UTC) if job.started_at else None
        age = (now - started).total_seconds() if started else None
        if not job.worker_name or job.worker_name not in alive:
            found.append((StuckJob(job_id, job.worker_name, age, f"worker {job.worker_name} is dead",
                                   "requeue or fail"), composite))
        elif age is not None and age > stuck_timeout:
            found.append((StuckJob(job_id, job.worker_name, age, f"running {age:.0f}s > {stuck_timeout:.0f}s",
                                   "stop"), composite))
    return found


def run_cleanup(client: redis.Redis, settings: Settings, *, dry_run: bool = False,
                stuck_timeout: float | None = None, wait_for_lock: float = 0) -> CleanupReport:
    """One repair pass; returns what it changed (or, with dry_run, what it would change)."""
    started = time.perf_counter()
    lock = client.lock(keys.CLEANUP_LOCK, timeout=LOCK_TIMEOUT, blocking_timeout=wait_for_lock or None)
    if not lock.acquire(blocking=wait_for_lock > 0):
        log.info("cleanup skipped: another run holds the lock")
        return CleanupReport(ran=False, dry_run=dry_run)
    try:
        report = _repair(client, settings, dry_run, stuck_timeout or settings.stuck_job_timeout)
    finally:
        lock.release()
    report.seconds = time.perf_counter() - started
    log.info("cleanup%s: requeued=%d failed=%d stopped=%d stale_workers_removed=%d in %.3fs",
             " (dry run)" if dry_run else "", len(report.requeued), len(report.failed), len(report.stopped),
             len(report.stale_workers_removed), report.seconds)
    if not dry_run:
        client.set(keys.CLEANUP_LAST_RUN, orjson.dumps({"at": time.time(), **report.summary()}))
    return report


def _repair(client: redis.Redis, settings: Settings, dry_run: bool, stuck_timeout: float) -> CleanupReport:
    report = CleanupReport(ran=True, dry_run=dry_run)
    dead = liveness.clear_stale(client, dry_run=dry_run)
    report.stale_workers_removed = [v.name for v in dead]
    for queue_name in (settings.queue_name, settings.maintenance_queue_name):
        queue = JSONQueue(queue_name, connection=client)
        registry = StartedJobRegistry(queue_name, connection=client, job_class=JSONJob, serializer=JSONSerializer)
        stuck = find_stuck_jobs(client, queue_name, stuck_timeout, {v.name for v in dead})
        report.stuck_jobs.extend(s for s, _ in stuck)
        if dry_run:
            continue
        for job, composite in stuck:
            if job.action == "stop":
                send_stop_job_command(client, job.job_id, serializer=JSONSerializer)
                report.stopped.append(job.job_id)
            else:
                # Expire the execution now, so RQ's own abandoned-job handling requeues it (Retry) or fails it.
                client.zadd(registry.key, {composite: 1}, xx=True)
        if queue.acquire_maintenance_lock():
            try:
                clean_registries(queue)
                worker_registration.clean_worker_registry(queue)
            finally:
                queue.release_maintenance_lock()
        else:
            registry.cleanup()
        for job, _ in stuck:
            if job.action == "stop":
                continue
            try:
                status = JSONJob.fetch(job.job_id, connection=client).get_status()
            except NoSuchJobError:
                continue
            job.outcome = status
            (report.failed if status == jobstates.FAILED else report.requeued).append(job.job_id)
    return report


def scheduled_cleanup() -> dict:
    """The job rq-scheduler enqueues every CLEANUP_INTERVAL on the maintenance queue."""
    from rq import get_current_job

    job = get_current_job()
    assert job is not None, "scheduled_cleanup runs inside an RQ worker"
    return run_cleanup(job.connection, Settings.from_env()).summary()
