"""`python -m worker.scheduler`: registers the periodic cleanup under a fixed id, then runs rq-scheduler.

rq-scheduler has no serializer option; it is handed the JSON Job and Queue classes (common.rqtypes),
so the jobs it creates and reads are JSON, never pickle. Several schedulers (one per container) may
run against one Redis: rq-scheduler's own lock lets one of them enqueue at a time, the fixed job id
keeps a single registration however often they restart, and the cleanup itself takes a Redis lock.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from rq.job import Job
from rq_scheduler import Scheduler

from common import logs
from common.job_meta import JobMeta
from common.jobstates import CLEANUP_FUNC
from common.rqtypes import JSONJob, JSONQueue
from common.settings import Settings
from fleet.cleanup import CLEANUP_JOB_ID, CLEANUP_JOB_TIMEOUT
from worker import startup

log = logging.getLogger("worker.scheduler")

POLL_SECONDS = 5


class CleanupScheduler(Scheduler):
    """rq-scheduler that does not push a periodic job again while its previous run still waits in the queue.

    Without this, a maintenance worker that is down for a while would find the same job id pushed once
    per interval and run the cleanup that many times in a row when it comes back.
    """

    def enqueue_job(self, job: Job) -> None:
        interval = JobMeta.of(job).interval  # rq-scheduler's own field of a periodic job
        queue = self.get_queue_for_job(job)
        if interval and self.connection.lpos(queue.key, job.id) is not None:
            log.info("%s is still waiting in %s; not queued again", job.id, queue.name)
            self.connection.zadd(self.scheduled_jobs_key, {job.id: int(datetime.now(UTC).timestamp()) + int(interval)})
            return
        super().enqueue_job(job)


def build_scheduler(client: redis.Redis, settings: Settings) -> CleanupScheduler:
    return CleanupScheduler(queue_name=settings.maintenance_queue_name, connection=client, job_class=JSONJob,
                            queue_class=JSONQueue, interval=min(POLL_SECONDS, settings.cleanup_interval))


def register_cleanup(scheduler: Scheduler, settings: Settings) -> None:
    """(Re)register the periodic cleanup: the fixed id replaces any earlier registration, never duplicates it."""
    if CLEANUP_JOB_ID in scheduler:
        scheduler.cancel(CLEANUP_JOB_ID)
    scheduler.schedule(
        scheduled_time=datetime.now(UTC),
        func=CLEANUP_FUNC,
        interval=settings.cleanup_interval,
        repeat=None,
        id=CLEANUP_JOB_ID,
        queue_name=settings.maintenance_queue_name,
        timeout=CLEANUP_JOB_TIMEOUT,
        description="scheduled cleanup of stuck jobs and stale workers",
    )
    log.info("registered cleanup %s every %ss on %s", CLEANUP_JOB_ID, settings.cleanup_interval,
             settings.maintenance_queue_name)


def main() -> None:
    settings = startup.load_settings()
    logs.configure(settings.log_level, settings.log_format, "scheduler")
    try:
        client = startup.connect(settings)
    except startup.StartupError as exc:
        log.error("scheduler cannot start: %s", exc)
        raise SystemExit(1) from None
    scheduler = build_scheduler(client, settings)
    register_cleanup(scheduler, settings)
    scheduler.run()


if __name__ == "__main__":
    main()
