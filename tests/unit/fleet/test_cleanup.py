"""The repair of docs/operations.md (`run_cleanup`) and the scheduled-cleanup registration,
against a real redis-server.

Jobs are enqueued, dequeued and started with RQ's own calls by real worker records; a worker "dies"
by never heartbeating again (its heartbeat is backdated past the deadline). The whole-process versions
of these faults (SIGKILL of real work horses and workers) are in tests/faults/test_faults_*.py.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

import pytest
import redis
from rq import Retry

from common import keys
from common.job_errors import describe_failure
from common.rqtypes import JSONJob, JSONQueue
from common.settings import Settings
from devtools.redis_server import RedisServer
from devtools.redis_snapshot import snapshot
from devtools.rq_state import backdate_heartbeat, begin_execution, rq_worker
from fleet import cleanup, liveness
from worker.scheduler import build_scheduler, register_cleanup

QUEUE = "cleanup-test"


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({"QUEUE_NAME": QUEUE, "JOB_TIMEOUT": "60", "CLEANUP_INTERVAL": "5"})


@pytest.fixture
def client(redis_server: RedisServer) -> redis.Redis:
    return redis_server.client()


@pytest.fixture
def workers() -> Iterator[list]:
    made: list = []
    yield made
    for worker in made:
        worker.unsubscribe()


def enqueue(client: redis.Redis, retries: int) -> JSONJob:
    queue = JSONQueue(QUEUE, connection=client)
    return queue.enqueue("worker.jobs.run_analysis", kwargs={"request": {}}, job_timeout=60,
                         retry=Retry(max=retries) if retries else None, failure_ttl=600, result_ttl=600)


def started_on_dead_worker(client: redis.Redis, retries: int) -> tuple[JSONJob, str]:
    """A job started by a worker that then died (no heartbeat, no subscriber)."""
    job = enqueue(client, retries)
    worker = rq_worker(client, QUEUE, listening=False)
    begin_execution(worker, QUEUE)
    backdate_heartbeat(client, worker.name, liveness.HEARTBEAT_DEADLINE + 30)
    return job, worker.name


def status(client: redis.Redis, job_id: str) -> str:
    return JSONJob.fetch(job_id, connection=client).get_status()


class TestRepair:
    def test_a_job_of_a_dead_worker_with_retries_left_is_requeued(self, client, settings):
        """RQ's abandoned-job handling requeues it and spends one retry; the dead record is cleared."""
        job, dead = started_on_dead_worker(client, retries=2)
        report = cleanup.run_cleanup(client, settings)
        assert report.ran and report.requeued == [job.id] and report.failed == []
        assert report.stale_workers_removed == [dead]
        assert status(client, job.id) == "queued"
        assert JSONJob.fetch(job.id, connection=client).retries_left == 1
        assert JSONQueue(QUEUE, connection=client).job_ids == [job.id]
        assert client.zcard(f"rq:wip:{QUEUE}") == 0

    def test_a_job_of_a_dead_worker_without_retries_fails_with_worker_died(self, client, settings):
        """No retries left: failed, with an error that says the worker died."""
        job, _ = started_on_dead_worker(client, retries=0)
        report = cleanup.run_cleanup(client, settings)
        assert report.failed == [job.id] and report.requeued == []
        fetched = JSONJob.fetch(job.id, connection=client)
        assert fetched.get_status() == "failed"
        error = describe_failure(fetched.latest_result().exc_string)
        assert error["type"] == "WorkerDied" and "died" in error["message"]
        assert client.ttl(f"rq:job:{job.id}") > 0  # FAILURE_TTL, finite

    def test_a_job_of_a_live_busy_worker_is_left_alone(self, client, settings, workers):
        """A started job whose worker is alive and busy with it is not touched."""
        job = enqueue(client, retries=2)
        workers.append(rq_worker(client, QUEUE))
        begin_execution(workers[0], QUEUE)
        report = cleanup.run_cleanup(client, settings)
        assert report.stuck_jobs == [] and report.stale_workers_removed == []
        assert status(client, job.id) == "started"

    def test_a_job_its_live_worker_no_longer_runs_is_requeued(self, client, settings, workers):
        """A work horse that ended without recording it (Redis was down) leaves an orphan: it is requeued."""
        job = enqueue(client, retries=1)
        workers.append(rq_worker(client, QUEUE))
        begin_execution(workers[0], QUEUE)
        workers[0].set_state("idle")  # the parent moved on; the horse never removed its execution
        report = cleanup.run_cleanup(client, settings)
        assert report.requeued == [job.id] and report.stale_workers_removed == []
        assert status(client, job.id) == "queued"

    def test_a_job_running_past_the_stuck_timeout_gets_rq_stop_command(self, client, settings, workers):
        """Over time on a live worker: RQ's stop-job command is sent to that worker's channel."""
        job = enqueue(client, retries=0)
        workers.append(rq_worker(client, QUEUE, listening=False))
        begin_execution(workers[0], QUEUE)
        listener = client.pubsub()
        listener.subscribe(workers[0].pubsub_channel_name)
        listener.get_message(timeout=5)  # the subscribe confirmation
        report = cleanup.run_cleanup(client, settings, stuck_timeout=0.001)
        assert report.stopped == [job.id]
        message = listener.get_message(timeout=5)
        assert message is not None and json.loads(message["data"]) == {"command": "stop-job", "job_id": job.id}
        listener.close()

    def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_put_back(self, client, settings):
        """RQ parks a dequeued job in <queue>:intermediate until it starts; if the worker dies in between,
        the repair puts it back at the front of the queue a minute after first seeing it (RQ's own rule)."""
        job = enqueue(client, retries=2)
        queue = JSONQueue(QUEUE, connection=client)
        assert JSONQueue.dequeue_any([queue], None, connection=client, job_class=JSONJob) is not None
        assert queue.intermediate_queue.get_job_ids() == [job.id] and queue.job_ids == []

        assert cleanup.run_cleanup(client, settings).requeued == []  # first sighting only
        assert cleanup.run_cleanup(client, settings, dry_run=True).requeued == []
        first_seen = queue.intermediate_queue.get_first_seen_key(job.id)
        client.set(first_seen, float(client.get(first_seen)) - 61)  # ... and a minute passes

        assert cleanup.run_cleanup(client, settings, dry_run=True).requeued == [job.id]
        report = cleanup.run_cleanup(client, settings)
        assert report.requeued == [job.id]
        assert queue.job_ids == [job.id] and queue.intermediate_queue.get_job_ids() == []
        assert status(client, job.id) == "queued"
        assert JSONJob.fetch(job.id, connection=client).retries_left == 2  # it never ran: no retry spent

    def test_a_dropped_job_that_is_already_queued_again_is_not_queued_twice(self, client, settings):
        """A job both requeued and still listed in the intermediate list is only removed from that list."""
        job = enqueue(client, retries=2)
        queue = JSONQueue(QUEUE, connection=client)
        client.lpush(queue.intermediate_queue.key, job.id)  # a leftover of an execution abandoned at its start
        cleanup.run_cleanup(client, settings)
        first_seen = queue.intermediate_queue.get_first_seen_key(job.id)
        client.set(first_seen, float(client.get(first_seen)) - 61)
        report = cleanup.run_cleanup(client, settings)
        assert report.requeued == [] and report.stuck_jobs[0].action == "drop"
        assert queue.job_ids == [job.id] and queue.intermediate_queue.get_job_ids() == []

    def test_a_repair_records_its_last_run(self, client, settings):
        """Every real run writes CLEANUP_LAST_RUN with its counts."""
        cleanup.run_cleanup(client, settings)
        last = json.loads(client.get(keys.CLEANUP_LAST_RUN))
        assert last["ran"] is True and last["dry_run"] is False and "at" in last


class TestDryRun:
    def test_a_dry_run_reports_what_it_would_do_and_changes_nothing(self, client, settings):
        """Every key and value is the same after a dry run; the report names the job and the stale worker."""
        requeue, dead = started_on_dead_worker(client, retries=1)
        fail, _ = started_on_dead_worker(client, retries=0)
        before = snapshot(client)
        report = cleanup.run_cleanup(client, settings, dry_run=True)
        assert snapshot(client) == before
        assert report.dry_run and report.requeued == [requeue.id] and report.failed == [fail.id]
        assert dead in report.stale_workers_removed
        assert {s.job_id for s in report.stuck_jobs} == {requeue.id, fail.id}
        assert not client.exists(keys.CLEANUP_LOCK)


class TestLock:
    def test_a_run_is_skipped_while_another_holds_the_lock(self, client, settings):
        """One run at a time: a held lock makes the next run return ran=False without repairing."""
        job, _ = started_on_dead_worker(client, retries=1)
        holder = client.lock(keys.CLEANUP_LOCK, timeout=30)
        assert holder.acquire(blocking=False)
        try:
            report = cleanup.run_cleanup(client, settings)
            assert report.ran is False and status(client, job.id) == "started"
        finally:
            holder.release()
        assert cleanup.run_cleanup(client, settings).requeued == [job.id]

    def test_a_lock_left_by_a_killed_run_expires_within_the_lock_timeout(self, client, settings):
        """The lock has a TTL, so a run killed mid-way blocks the others for at most LOCK_TIMEOUT seconds."""
        cleanup.run_cleanup(client, settings)
        stale = client.lock(keys.CLEANUP_LOCK, timeout=cleanup.LOCK_TIMEOUT)
        assert stale.acquire(blocking=False)
        assert 0 < client.ttl(keys.CLEANUP_LOCK) <= cleanup.LOCK_TIMEOUT


class TestScheduledRegistration:
    def test_registering_twice_keeps_one_json_scheduled_job(self, client, settings):
        """A restart re-registers under the fixed id: still one entry, and its data is JSON, not pickle."""
        scheduler = build_scheduler(client, settings)
        register_cleanup(scheduler, settings)
        register_cleanup(build_scheduler(client, settings), settings)
        assert client.zrange("rq:scheduler:scheduled_jobs", 0, -1) == [cleanup.CLEANUP_JOB_ID.encode()]
        data = client.hget(f"rq:job:{cleanup.CLEANUP_JOB_ID}", "data")
        assert json.loads(zlib.decompress(data))[0] == "fleet.cleanup.scheduled_cleanup"
        assert client.hget(f"rq:job:{cleanup.CLEANUP_JOB_ID}", "origin") == settings.maintenance_queue_name.encode()

    def test_the_scheduler_does_not_queue_the_cleanup_again_while_it_still_waits(self, client, settings):
        """With the maintenance worker down, each interval must not push the same job id once more."""
        scheduler = build_scheduler(client, settings)
        register_cleanup(scheduler, settings)
        for _ in range(3):
            job = JSONJob.fetch(cleanup.CLEANUP_JOB_ID, connection=client)
            scheduler.enqueue_job(job)
        maintenance = JSONQueue(settings.maintenance_queue_name, connection=client)
        assert maintenance.job_ids == [cleanup.CLEANUP_JOB_ID]
        assert cleanup.CLEANUP_JOB_ID in scheduler  # still scheduled for its next interval


class TestRetryPolicy:
    """Retries are for dead workers: a real forking ShapWorker (burst mode) fails bad jobs at once."""

    def run_burst(self, client: redis.Redis) -> int:
        """Work the queue until it is empty; returns how many executions failed (retries included)."""
        from worker.rq_worker import build_worker

        worker = build_worker(client, [QUEUE], f"test-burst-{id(self)}")
        worker.work(burst=True, logging_level="WARNING")
        return int(client.hget(worker.key, "failed_job_count") or 0)

    def test_a_job_that_runs_past_its_timeout_is_failed_not_retried(self, client):
        """JobTimeoutException is not retried: it would time out again."""
        queue = JSONQueue(QUEUE, connection=client)
        job = queue.enqueue("time.sleep", args=[30], job_timeout=1, retry=Retry(max=2), failure_ttl=600)
        assert self.run_burst(client) == 1
        fetched = JSONJob.fetch(job.id, connection=client)
        assert fetched.get_status() == "failed" and queue.count == 0
        assert describe_failure(fetched.latest_result().exc_string)["type"] == "JobTimeout"

    def test_a_job_that_fails_on_its_input_is_failed_not_retried(self, client):
        """A ValueError is the request's fault: failed at once, with the exception's type and message."""
        queue = JSONQueue(QUEUE, connection=client)
        job = queue.enqueue("builtins.int", args=["not a number"], retry=Retry(max=2), failure_ttl=600)
        assert self.run_burst(client) == 1
        fetched = JSONJob.fetch(job.id, connection=client)
        assert fetched.get_status() == "failed" and queue.count == 0
        error = describe_failure(fetched.latest_result().exc_string)
        assert error["type"] == "ValueError" and "not a number" in error["message"]
