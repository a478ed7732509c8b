"""`python -m worker.scheduler`: registers the periodic cleanup under a fixed id, then runs rq-scheduler."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from rq_scheduler import Scheduler

from common.jobstates import CLEANUP_FUNC
from common.rqtypes import JSONJob, JSONQueue
from common.settings import Settings
from worker import startup
from worker.cleanup import CLEANUP_JOB_ID

log = logging.getLogger("worker.scheduler")


def build_scheduler(client: redis.Redis, settings: Settings) -> Scheduler:
    return Scheduler(queue_name=settings.maintenance_queue_name, connection=client, job_class=JSONJob,
                     queue_class=JSONQueue, interval=min(5, settings.cleanup_interval))


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
        timeout=300,
        description="scheduled cleanup of stuck jobs and stale workers",
    )
    log.info("registered cleanup %s every %ss on %s", CLEANUP_JOB_ID, settings.cleanup_interval,
             settings.maintenance_queue_name)


def main() -> None:
    settings = startup.load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s scheduler %(levelname)s %(name)s: %(message)s")
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
