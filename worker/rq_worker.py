"""The RQ worker class every worker program runs, and the factory that configures it."""

from __future__ import annotations

import logging
import os
from datetime import UTC
from typing import Any

import redis
from rq import worker_registration
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.serializers import JSONSerializer
from rq.timeouts import BaseTimeoutException, JobTimeoutException, UnixSignalDeathPenalty
from rq.utils import now
from rq.worker import SHUTDOWN_SIGNAL, Worker, WorkerStatus

from common import logs, metrics
from common.errors import ServiceError
from common.job_errors import describe_failure
from common.job_meta import JobMeta
from common.jobstates import ANALYSIS_FUNC, PLOT_FUNC, TRAINING_FUNC
from common.redis_conn import REDIS_UNREACHABLE
from common.rqtypes import JSONJob, JSONQueue
from fleet import naming
from fleet.liveness import JOB_MONITORING_INTERVAL, WORKER_TTL
from store import dataset_store
from worker import context, kept_models, plot_loading

log = logging.getLogger(__name__)

# Errors that say the request or its data cannot be explained (or that it ran out of time), not that a
# worker died: running the job again would fail again.
NON_RETRYABLE: tuple[type[BaseException], ...] = (ServiceError, ValueError, KeyError, TypeError,
                                                  JobTimeoutException, redis.exceptions.OutOfMemoryError)
HORSE_KILLED = "Work-horse terminated unexpectedly"  # the start of RQ's message when a horse dies


class JobDeathPenalty(UnixSignalDeathPenalty):
    """RQ's own SIGALRM timeout, which keeps its exception when CatBoost swallows it.

    CatBoost checks for signals while it trains and turns whatever exception a signal handler raised into a
    bare KeyboardInterrupt, so RQ's JobTimeoutException, raised in the middle of a long `fit`, would reach
    RQ as "KeyboardInterrupt" (retried, reported as an unknown error). The exception the alarm raised is
    kept, and a KeyboardInterrupt leaving the timed block after the alarm fired is replaced by it."""

    def __init__(self, timeout, exception=BaseTimeoutException, **kwargs) -> None:
        super().__init__(timeout, exception, **kwargs)
        self._raised: BaseTimeoutException | None = None

    def handle_death_penalty(self, signum, frame):
        self._raised = self._exception(f"Task exceeded maximum timeout value ({self._timeout} seconds)")
        raise self._raised

    def __exit__(self, type, value, traceback):
        super().__exit__(type, value, traceback)
        if self._raised is not None and isinstance(value, KeyboardInterrupt):
            raise self._raised from value
        return False


def _bind(job: Job) -> None:
    """The job's id and the request id that enqueued it, on every log line of this process from now on."""
    logs.bind(job_id=job.id, request_id=JobMeta.of(job).request_id)


class AnnouncedQueue(JSONQueue):
    """The workers' queue class: a job a worker takes has its context (common.logs) bound the moment it is
    dequeued, so RQ's own announcement of it (`<queue>: <description> (<id>)`, logged inside RQ's dequeue,
    before execute_job) carries job_id and request_id like every later line of that job."""

    @classmethod
    def dequeue_any(cls, *args: Any, **kwargs: Any) -> tuple[Job, Queue] | None:
        taken = super().dequeue_any(*args, **kwargs)
        if taken is not None:
            _bind(taken[0])
        return taken


class ShapWorker(Worker):
    """RQ's forking Worker, with these changes:

    * its birth is an atomic claim of its name (WATCH/MULTI around RQ's own rule), retried with a
      fresh name when RQ reports a collision, a bounded number of times (docs/how-it-works.md, Worker start-up);
    * it re-asserts its own registration on every heartbeat, so a record dropped by a Redis restart
      without persistence, or by an operator, comes back within one heartbeat;
    * a busy worker keeps watching its work horse through a Redis outage instead of quitting (the
      heartbeats it cannot send are logged), so the horse's outcome is still recorded when Redis returns;
    * a work horse that outlived its job's timeout and was then killed (by RQ's own monitor at
      timeout + 60 s, or by the cleanup's stop command) ends the job `failed` with a JobTimeout error,
      without a retry, as RQ's in-horse timeout would have: not `stopped`, not "the worker died";
    * its timeout is JobDeathPenalty, so a timeout that fires while CatBoost trains is still a timeout;
    * it takes a dequeued job atomically against DELETE /job_status/<id> (web.job_control, docs/decisions/
      0016-honest-cancels.md): in one WATCH/MULTI on the job's hash it runs the job only if it is not
      `canceled`, marking it `started` on this worker at once; a job canceled after RQ popped it is dropped
      unrun. A stop that arrives between that mark and the fork kills the horse as soon as it exists.
    """

    death_penalty_class = JobDeathPenalty
    name_prefix = "shap-worker"
    name_attempts = naming.NAME_ATTEMPTS
    name_backoff = naming.NAME_BACKOFF

    def register_birth(self) -> None:
        attempt = 1
        while not self._claim_name():
            self.name = naming.next_attempt(self.name, attempt, self.name_prefix, self.name_attempts,
                                            self.name_backoff)
            attempt += 1
        self.log.info("Worker %s: registered birth (name bound on attempt %d)", self.name, attempt)

    def _claim_name(self) -> bool:
        """RQ's register_birth, made atomic: False when a live record holds the name (or just took it)."""
        key = self.key
        with self.connection.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.exists(key) and not pipe.hexists(key, "death"):
                    return False
                pipe.multi()
                pipe.delete(key)
                self.birth_date = self.last_heartbeat = now()
                pipe.hset(key, mapping=self.serialize())
                worker_registration.register(self, pipe)
                pipe.expire(key, self.worker_ttl + 60)
                pipe.execute()
            except redis.exceptions.WatchError:
                return False  # another process wrote this key between our check and our claim
        return True

    def heartbeat(self, timeout=None, pipeline=None):
        connection = pipeline if pipeline is not None else self.connection.pipeline()
        super().heartbeat(timeout, pipeline=connection)
        if self.birth_date is not None:
            connection.hset(self.key, mapping=self.serialize())
        connection.hdel(self.key, "death")
        worker_registration.register(self, connection)
        if pipeline is None:
            try:
                connection.execute()
            except REDIS_UNREACHABLE as exc:
                # The dequeue that follows meets the same error and backs off (RQ's own loop).
                self.log.warning("Worker %s: heartbeat failed, Redis is unreachable: %s", self.name, exc)

    def maintain_heartbeats(self, job: Job) -> None:
        try:
            super().maintain_heartbeats(job)
        except REDIS_UNREACHABLE as exc:
            self.log.warning("Worker %s: heartbeat for job %s failed, Redis is unreachable (%s); still "
                             "watching the work horse", self.name, job.id, exc)

    def handle_job_failure(self, job: Job, queue, started_job_registry=None, exc_string: str = "") -> None:
        overrun = _seconds_past_timeout(job)
        if overrun is not None and (self._stopped_job_id == job.id or exc_string.startswith(HORSE_KILLED)):
            # RQ's timeout inside the horse never fired (the horse was stuck outside Python code).
            self._stopped_job_id = None  # rq.command's own flag: a stopped job would end `stopped`
            job.retries_left = 0
            exc_string = (f"rq.timeouts.JobTimeoutException: Job exceeded maximum timeout value ({job.timeout} "
                          f"seconds); its work horse did not stop by itself and was killed {overrun:.0f}s later")
            self.log.warning("Worker %s: job %s ran past its timeout; failing it: %s", self.name, job.id, exc_string)
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string)

    def execute_job(self, job: Job, queue) -> None:
        """RQ's forking execution, with the job's id and the request id that enqueued it on every log line of
        this worker and of its work horse (forked inside, so it inherits them) until the job ends; a job
        canceled before this worker took it is dropped unrun."""
        _bind(job)  # again: a job can reach here without dequeue_any (RQ's execute_job is public)
        if not self.take(job):
            self.drop_canceled(job)
            logs.unbind(*logs.CONTEXT_FIELDS)
            return
        if job.func_name == PLOT_FUNC:
            plot_loading.load()  # here, in the parent, once: the horse it forks (and later ones) inherit it
        try:
            super().execute_job(job, queue)
        finally:
            logs.unbind(*logs.CONTEXT_FIELDS)
        if job.func_name == ANALYSIS_FUNC:
            record_outcome(job)  # refreshes the job: its meta names what the horse used
            release_version(job)
        elif job.func_name == TRAINING_FUNC and not _refreshed(job):
            return
        if job.func_name in (ANALYSIS_FUNC, TRAINING_FUNC):
            kept_models.keep_for_next_jobs(context.current(), job)

    def take(self, job: Job) -> bool:
        """The one decision between this worker and a cancel (web.job_control.cancel_waiting WATCHes the same
        hash): False when the job is canceled; else, in the same transaction, the job is `started` on this
        worker and is its current job, so a DELETE from now on stops it (RQ's stop-job command)."""
        with self.connection.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(job.key)
                    if _text(pipe.hget(job.key, "status")) == JobStatus.CANCELED:
                        return False
                    pipe.multi()
                    job.prepare_for_execution(self.name, pipeline=pipe)
                    self.set_current_job_id(job.id, pipeline=pipe)
                    # RQ's prepare_execution, in the same MULTI: the started job is in the StartedJobRegistry
                    # at once, so a worker dying now leaves an orphan the fleet's repair finds
                    self.execution = Execution.create(job, self.get_heartbeat_ttl(job), pipeline=pipe,
                                                      worker_name=self.name)
                    self.set_state(WorkerStatus.BUSY, pipeline=pipe)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def prepare_execution(self, job: Job) -> Execution:
        """RQ's, unless take() already did it for this job."""
        if self.execution is not None and self.execution.job_id == job.id:
            return self.execution
        return super().prepare_execution(job)

    def drop_canceled(self, job: Job) -> None:
        """A job canceled after RQ moved it to the intermediate queue: it leaves that list (RQ's cleanup
        would otherwise fail it as stuck) and stays `canceled` in RQ's canceled registry, never run."""
        self.connection.lrem(JSONQueue(job.origin, connection=self.connection).intermediate_queue_key, 0, job.id)
        self.log.info("Worker %s: job %s was canceled before it started; not run", self.name, job.id)

    def fork_work_horse(self, job: Job, queue) -> None:
        super().fork_work_horse(job, queue)  # only the parent returns
        if self._stopped_job_id == job.id:  # a stop came between take() and the fork: kill_horse skipped it
            self.kill_horse()

    def kill_horse(self, sig=SHUTDOWN_SIGNAL) -> None:
        """RQ's, made safe for a stop that comes as the horse is forked. With no horse yet (pid 0, where
        os.getpgid(0) names this worker's own group) the stop is only remembered (RQ's _stopped_job_id) and
        fork_work_horse kills the horse it forks; a horse that has not yet left this process's group
        (os.setpgrp, its first step) is killed alone, not with the group it still shares with its parent."""
        if not self.horse_pid:
            return
        try:
            alone = os.getpgid(self.horse_pid) == os.getpgrp()
        except ProcessLookupError:
            return  # it has ended and been reaped
        if alone:
            os.kill(self.horse_pid, sig)
            return
        super().kill_horse(sig)

    def set_current_job_working_time(self, current_job_working_time, pipeline=None):
        if pipeline is not None:
            super().set_current_job_working_time(current_job_working_time, pipeline=pipeline)
            return
        try:
            super().set_current_job_working_time(current_job_working_time)
        except REDIS_UNREACHABLE:
            self.current_job_working_time = current_job_working_time  # Redis gets it with the next heartbeat


OUTCOMES = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})


def record_outcome(job: Job) -> None:
    """The ended job's outcome and stage timings as metrics, recorded here in the long-lived worker parent
    (common.metrics: a work horse records none) from what the horse stored in Redis."""
    if not _refreshed(job):  # expired already, or Redis is down: this job goes uncounted
        return
    status = job.get_status(refresh=False)
    if status not in OUTCOMES:  # requeued for a retry (queued, or already started elsewhere): counted when it ends
        return
    error_type = ""
    if status == JobStatus.FAILED:
        latest = job.latest_result()
        error_type = describe_failure(latest.exc_string if latest else job.exc_info)["type"]
    meta = JobMeta.of(job)
    timings = {k: v for k, v in (meta.timings or {}).items() if isinstance(v, int | float)}
    metrics.observe_job(JobStatus(status).value, error_type, timings, bool(meta.trained_in_this_job))


def release_version(job: Job) -> None:
    """An analysis that has ended (not one requeued for a retry) no longer needs the dataset version it was
    accepted on (store.dataset_store.release)."""
    version = dataset_store.pinned_version(job)
    if version is None or job.get_status(refresh=False) not in OUTCOMES:
        return
    try:
        dataset_store.release(job.connection, version, job.id)
    except REDIS_UNREACHABLE as exc:  # the pin expires with JOBS_KEPT_S
        log.warning("job %s: could not release dataset version %s: %s", job.id, version, exc)


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _refreshed(job: Job) -> bool:
    """Re-read the job from Redis; False when it is gone or Redis is unreachable."""
    try:
        job.refresh()
    except NoSuchJobError:
        return False
    except REDIS_UNREACHABLE:
        return False
    return True


def _seconds_past_timeout(job: Job) -> float | None:
    """How long past its timeout the job has been running, or None when it is within it (or has none)."""
    if not job.started_at or not job.timeout or job.timeout < 0:
        return None
    started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
    over = (now() - started).total_seconds() - job.timeout
    return over if over > 0 else None


def build_worker(client: redis.Redis, queue_names: list[str], name: str, prefix: str = "shap-worker") -> ShapWorker:
    queues = [AnnouncedQueue(q, connection=client) for q in queue_names]
    worker = ShapWorker(
        queues,
        name=name,
        connection=client,
        serializer=JSONSerializer,
        job_class=JSONJob,
        queue_class=AnnouncedQueue,
        worker_ttl=WORKER_TTL,
        job_monitoring_interval=JOB_MONITORING_INTERVAL,
        exception_handlers=[no_retry_for_bad_input],
    )
    worker.name_prefix = prefix
    return worker


def no_retry_for_bad_input(job, exc_type, exc_value, traceback) -> bool:
    """RQ exception handler: a job that failed on its input would fail again, so it is not retried.

    Retries are for jobs whose worker died; RQ calls this handler before it decides to retry.
    """
    if isinstance(exc_type, type) and issubclass(exc_type, NON_RETRYABLE):
        job.retries_left = 0
    return True

