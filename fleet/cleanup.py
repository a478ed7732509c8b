"""The repair (docs/operations.md): registry maintenance, jobs of dead workers, over-time jobs, stale worker records.

One run at a time across every container (a Redis lock). The scheduled job, POST /admin/cleanup_jobs
and shap-repair (fleet.cli.repair) all call `run_cleanup`; shap-diagnose (fleet.cli.diagnose) calls it with
dry_run=True, which reads and never writes (not even the lock).

A started job is stuck when the worker that runs its execution (RQ's StartedJobRegistry entry
`<job id>:<execution id>`, whose execution record names the worker) is dead by the liveness rule, or
is alive but no longer running it (its work horse ended without recording the end, e.g. during a
Redis outage). The repair does not re-implement RQ: it marks that execution expired, and RQ's own
`StartedJobRegistry.cleanup` requeues the job while it has retries left (`Retry`) and otherwise fails
it with `AbandonedJobError`. A job still running on a live worker after `stuck_timeout` seconds gets
RQ's stop command; that worker kills the horse and fails the job as a timeout (worker/rq_worker.py).
A job a worker took off the queue (RQ parks it in `<queue>:intermediate`) but died before starting is
put back at the front of its queue, by RQ's own rule for when such a job is abandoned.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from redis.exceptions import LockError
from rq import worker_registration
from rq.command import send_command
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry, clean_registries
from rq.serializers import JSONSerializer
from rq.utils import as_text

from common import jobstates, keys
from common.rqtypes import JSONJob, JSONQueue
from common.settings import Settings
from fleet import liveness

log = logging.getLogger(__name__)

CLEANUP_JOB_ID = "shap-scheduled-cleanup"  # fixed: re-registering after a restart never duplicates it
CLEANUP_JOB_TIMEOUT = 300
# A pass takes milliseconds; a run killed while holding the lock blocks the next ones for at most this.
LOCK_TIMEOUT = 60
BUSY = "busy"

REQUEUE, FAIL, STOP, DROP = "requeue", "fail", "stop", "drop"


@dataclass
class StuckJob:
    job_id: str
    queue: str
    worker_name: str | None
    execution_id: str
    age_seconds: float | None
    reason: str
    action: str  # requeue | fail (worker dead or gone), stop (over time), drop (job data expired)
    outcome: str | None = None  # the job's status after the repair


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

    def summary(self) -> dict[str, Any]:
        """The POST /admin/cleanup_jobs body: counts (what was done, or with dry_run what would be) and details."""
        return {"success": True, "ran": self.ran, "dry_run": self.dry_run,
                "requeued": len(self.requeued), "failed": len(self.failed) + len(self.stopped),
                "stale_workers_removed": len(self.stale_workers_removed),
                "details": {"requeued": self.requeued, "failed": self.failed, "stopped_over_time": self.stopped,
                            "stale_workers": self.stale_workers_removed,
                            "stuck_jobs": [asdict(s) for s in self.stuck_jobs]},
                "seconds": round(self.seconds, 4)}


def started_registry(client: redis.Redis, queue_name: str) -> StartedJobRegistry:
    return StartedJobRegistry(queue_name, connection=client, job_class=JSONJob, serializer=JSONSerializer)


def _round(age: float | None) -> float | None:
    return None if age is None else round(age, 1)


@dataclass(frozen=True)
class _Workers:
    """What the repair knows of the workers named by started jobs: liveness verdicts, and what each says
    it is doing (state, current job)."""

    verdicts: dict[str, liveness.Verdict]
    doing: dict[str, tuple[str | None, str | None]]
    dead: dict[str, str]  # name -> reason, found dead earlier in this pass (and maybe unregistered)

    @classmethod
    def read(cls, client: redis.Redis, names: list[str], dead: dict[str, str]) -> _Workers:
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hmget(liveness.worker_key(name), ["state", "current_job"])
            doing = {name: (as_text(s) if s else None, as_text(c) if c else None)
                     for name, (s, c) in zip(names, pipe.execute(), strict=True)}
        return cls(liveness.judge_names(client, names), doing, dead)


def _runners(client: redis.Redis, entries: list[tuple[str, str]], jobs: list[Job | None]) -> list[str | None]:
    """The worker running each execution: its execution record's, else the job's own record of it."""
    with client.pipeline(transaction=False) as pipe:
        for job_id, execution_id in entries:
            pipe.hget(Execution(execution_id, job_id, connection=client).key, "worker_name")
        recorded = [as_text(raw) if raw else None for raw in pipe.execute()]
    return [runner or (job.worker_name if job else None) for runner, job in zip(recorded, jobs, strict=True)]


def _fetch_all(client: redis.Redis, job_ids: list[str]) -> list[Job | None]:
    jobs: list[Job | None] = []
    for job_id in job_ids:
        try:
            jobs.append(JSONJob.fetch(job_id, connection=client))
        except NoSuchJobError:
            jobs.append(None)
    return jobs


def find_stuck_jobs(client: redis.Redis, queue_name: str, stuck_timeout: float,
                    dead_workers: dict[str, str] | None = None) -> list[StuckJob]:
    """Started jobs of `queue_name` that the repair must act on; reads only.

    `dead_workers` (name -> reason) are workers already found dead in this pass (and maybe unregistered).
    """
    entries = started_registry(client, queue_name).get_job_and_execution_ids(cleanup=False)
    if not entries:
        return []
    jobs = _fetch_all(client, [job_id for job_id, _ in entries])
    runners = _runners(client, entries, jobs)
    workers = _Workers.read(client, [name for name in runners if name], dead_workers or {})
    now = datetime.now(UTC)
    found = [_judge(queue_name, job_id, execution_id, job, runner, workers, stuck_timeout, now)
             for (job_id, execution_id), job, runner in zip(entries, jobs, runners, strict=True)]
    return [stuck for stuck in found if stuck is not None]


def _judge(queue_name: str, job_id: str, execution_id: str, job: Job | None, runner: str | None,
           workers: _Workers, stuck_timeout: float, now: datetime) -> StuckJob | None:
    """Whether one started execution is stuck, why, and what the repair does about it."""
    if job is None:
        return StuckJob(job_id, queue_name, runner, execution_id, None, "job data expired", DROP)
    started = job.started_at.replace(tzinfo=UTC) if job.started_at else None
    age = (now - started).total_seconds() if started else None
    on_death = REQUEUE if (job.retries_left or 0) > 0 else FAIL
    verdict = workers.verdicts.get(runner) if runner else None
    state, current = workers.doing.get(runner, (None, None)) if runner else (None, None)
    if runner is None or verdict is None or not verdict.alive or runner in workers.dead:
        why = workers.dead.get(runner or "") or (verdict.reason if verdict else "no worker recorded")
        return StuckJob(job_id, queue_name, runner, execution_id, _round(age), f"worker is dead ({why})", on_death)
    if state != BUSY:  # RQ sets BUSY in the same transaction that registers the execution
        return StuckJob(job_id, queue_name, runner, execution_id, _round(age),
                        f"worker is alive but no longer runs it (state {state}, current job {current})", on_death)
    if age is not None and age > stuck_timeout:
        return StuckJob(job_id, queue_name, runner, execution_id, _round(age),
                        f"running {age:.0f}s, longer than {stuck_timeout:.0f}s", STOP)
    return None


def find_dropped_jobs(client: redis.Redis, queue_name: str, *, mark: bool) -> list[StuckJob]:
    """Jobs a worker took off the queue (RQ moves them to `<queue>:intermediate`) and died before starting.

    RQ's own rule decides when one is abandoned: it is not in the StartedJobRegistry and was first
    seen there more than a minute ago (`IntermediateQueue.should_be_cleaned_up`). With `mark`, the first
    sighting of each is recorded (RQ's `set_first_seen`); without it, this only reads.
    """
    queue = JSONQueue(queue_name, connection=client)
    intermediate = queue.intermediate_queue
    waiting = intermediate.get_job_ids()
    if not waiting:
        return []
    started = set(started_registry(client, queue_name).get_job_ids(cleanup=False))
    found = []
    for job_id in waiting:
        if job_id in started:
            continue
        if mark and intermediate.set_first_seen(job_id):
            continue  # first sighting: a live worker may be about to start it
        first_seen = intermediate.get_first_seen(job_id)
        if first_seen is None or not intermediate.should_be_cleaned_up(job_id):
            continue
        age = (datetime.now(UTC) - first_seen).total_seconds()
        found.append(StuckJob(job_id, queue_name, None, "", _round(age),
                              "taken off the queue by a worker that died before starting it", REQUEUE))
    return found


def run_cleanup(client: redis.Redis, settings: Settings, *, dry_run: bool = False,
                stuck_timeout: float | None = None, wait_for_lock: float = 0) -> CleanupReport:
    """One repair pass; returns what it changed (or, with dry_run, what it would change).

    Returns a report with ran=False when another run holds the lock for longer than `wait_for_lock` seconds.
    """
    started = time.perf_counter()
    timeout = settings.stuck_job_timeout if stuck_timeout is None else stuck_timeout
    if dry_run:
        report = _survey(client, settings, timeout)
    else:
        lock = client.lock(keys.CLEANUP_LOCK, timeout=LOCK_TIMEOUT, blocking_timeout=wait_for_lock or None)
        if not lock.acquire(blocking=wait_for_lock > 0):
            log.info("cleanup skipped: another run holds the lock")
            return CleanupReport(ran=False, dry_run=False)
        try:
            report = _repair(client, settings, timeout)
        finally:
            try:
                lock.release()
            except LockError:
                log.warning("cleanup ran longer than its %ss lock; another run may have overlapped", LOCK_TIMEOUT)
    report.seconds = time.perf_counter() - started
    log.info("cleanup%s: requeued=%d failed=%d stopped=%d stale_workers_removed=%d in %.3fs%s",
             " (dry run)" if dry_run else "", len(report.requeued), len(report.failed), len(report.stopped),
             len(report.stale_workers_removed), report.seconds,
             "".join(f"; {s.job_id} ({s.queue}): {s.reason} -> {s.outcome or s.action}" for s in report.stuck_jobs))
    if not dry_run:
        summary = report.summary()
        with client.pipeline(transaction=False) as pipe:
            pipe.set(keys.CLEANUP_LAST_RUN, orjson.dumps({"at": time.time(), **summary}))
            # running totals for /metrics (a cleanup runs in a work horse, which records no samples itself)
            for action in ("requeued", "failed", "stale_workers_removed"):
                if summary[action]:
                    pipe.hincrby(keys.CLEANUP_TOTALS, action, summary[action])
            pipe.execute()
    return report


def _queues(settings: Settings) -> tuple[str, ...]:
    # plot renders too: one stuck on a dead worker would keep its plot answering 202
    return (settings.queue_name, settings.plots_queue_name, settings.maintenance_queue_name)


def _survey(client: redis.Redis, settings: Settings, stuck_timeout: float) -> CleanupReport:
    """What a repair would do, without writing anything."""
    report = CleanupReport(ran=True, dry_run=True)
    dead = liveness.clear_stale(client, dry_run=True)
    report.stale_workers_removed = [v.name for v in dead]
    for queue_name in _queues(settings):
        stuck = find_stuck_jobs(client, queue_name, stuck_timeout, {v.name: v.reason for v in dead})
        stuck += find_dropped_jobs(client, queue_name, mark=False)
        report.stuck_jobs.extend(stuck)
        for job in stuck:
            {REQUEUE: report.requeued, FAIL: report.failed, STOP: report.stopped}.get(job.action, []).append(
                job.job_id)
    return report


def _repair(client: redis.Redis, settings: Settings, stuck_timeout: float) -> CleanupReport:
    report = CleanupReport(ran=True, dry_run=False)
    dead = liveness.clear_stale(client)
    report.stale_workers_removed = [v.name for v in dead]
    for queue_name in _queues(settings):
        _repair_queue(client, queue_name, stuck_timeout, {v.name: v.reason for v in dead}, report)
    return report


def _repair_queue(client: redis.Redis, queue_name: str, stuck_timeout: float, dead: dict[str, str],
                  report: CleanupReport) -> None:
    queue = JSONQueue(queue_name, connection=client)
    registry = started_registry(client, queue_name)
    stuck = find_stuck_jobs(client, queue_name, stuck_timeout, dead)
    report.stuck_jobs.extend(stuck)
    for job in stuck:
        if job.action == STOP:
            assert job.worker_name is not None
            send_command(client, job.worker_name, "stop-job", job_id=job.job_id)
            job.outcome = "stop requested"
            report.stopped.append(job.job_id)
        else:
            # Expire this execution now (only if it is still registered), so that RQ's own abandoned-job
            # handling below requeues the job (Retry) or fails it (AbandonedJobError).
            execution = Execution(job.execution_id, job.job_id, connection=client)
            client.zadd(registry.key, {execution.composite_key: 1}, xx=True)
    for dropped in find_dropped_jobs(client, queue_name, mark=True):
        report.stuck_jobs.append(dropped)
        _put_back(client, queue, dropped)
        if dropped.action == REQUEUE:
            report.requeued.append(dropped.job_id)
    _maintain(queue, registry)
    for job in stuck:
        _record_outcome(client, job, report)


def _maintain(queue: JSONQueue, registry: StartedJobRegistry) -> None:
    """RQ's own registry maintenance, which settles the abandoned executions marked above."""
    if queue.acquire_maintenance_lock():
        try:
            clean_registries(queue)
            worker_registration.clean_worker_registry(queue)
        finally:
            queue.release_maintenance_lock()
    else:  # a worker is doing RQ's maintenance of this queue right now; the abandoned jobs are ours to settle
        registry.cleanup()


def _record_outcome(client: redis.Redis, job: StuckJob, report: CleanupReport) -> None:
    """The outcome of RQ's abandoned-job handling for one stuck job."""
    if job.action in (STOP, DROP):
        return
    try:
        job.outcome = JobStatus(JSONJob.fetch(job.job_id, connection=client).get_status()).value
    except NoSuchJobError:
        return
    if job.outcome == jobstates.FAILED:
        report.failed.append(job.job_id)
    elif job.outcome in (jobstates.QUEUED, jobstates.SCHEDULED, jobstates.STARTED):
        report.requeued.append(job.job_id)  # STARTED: a worker already picked it up again


def _put_back(client: redis.Redis, queue: JSONQueue, dropped: StuckJob) -> None:
    """Return a job that never started to the front of its queue (no retry spent: it never ran).

    A job that is no longer `queued`, or that is already back in its queue (requeued by RQ after its
    execution was abandoned), is only removed from the intermediate list: it must never run twice.
    """
    intermediate = queue.intermediate_queue
    try:
        job = JSONJob.fetch(dropped.job_id, connection=client)
        status = JobStatus(job.get_status()).value
    except NoSuchJobError:
        job, status = None, "expired"
    if job is None or status != jobstates.QUEUED or client.lpos(queue.key, dropped.job_id) is not None:
        intermediate.remove(dropped.job_id)
        dropped.action, dropped.outcome = DROP, f"only removed from the intermediate list (job {status})"
        return
    with client.pipeline() as pipe:
        queue.enqueue_job(job, pipeline=pipe, at_front=True)  # first: RQ puts the pipeline in MULTI mode
        pipe.lrem(intermediate.key, 1, dropped.job_id)
        pipe.delete(intermediate.get_first_seen_key(dropped.job_id))
        pipe.execute()
    dropped.outcome = jobstates.QUEUED


def scheduled_cleanup() -> dict[str, Any]:
    """The job rq-scheduler enqueues every CLEANUP_INTERVAL on the maintenance queue."""
    from rq import get_current_job

    job = get_current_job()
    assert job is not None, "scheduled_cleanup runs inside an RQ worker"
    return run_cleanup(job.connection, Settings.from_env()).summary()
