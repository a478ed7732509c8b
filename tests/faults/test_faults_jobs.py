"""Fault injection on running jobs (docs/operations.md: the promise): SIGKILL of a real work horse,
and of a real worker parent together with its horse (what a container kill does to them), under a real
supervisord.

Each test asserts that nothing is lost: the job is requeued and finishes, or (no retries left) ends
`failed` with an error that says the worker died. It is never left `started`.

Most kills hit a horse that waits for the model another job is training (it then holds no lock);
TestTrainingLock kills the horse that holds the training lock. TestJobPastItsTimeout (a forking worker
without supervisord) covers a horse that outlives its timeout: a timeout, not a death.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Retry

from common.rqtypes import JSONJob, JSONQueue
from devtools import wide_table
from devtools.processes import work_horse
from devtools.redis_server import RedisServer
from devtools.rq_state import job_hash, model_lock_held
from devtools.service import Service, running_worker, upload_fresh_dataset
from devtools.stack import Stack
from devtools.waiting import wait_until
from fleet import cleanup

pytestmark = pytest.mark.slow

CLEANUP_INTERVAL = 5
BOUND = 2 * CLEANUP_INTERVAL + 90  # docs/operations.md: requeued or failed within 2 x CLEANUP_INTERVAL + 90 s


def start(tmp_path_factory: pytest.TempPathFactory, name: str, retries: int) -> Service:
    service = Service(Path(tmp_path_factory.mktemp(name)),
                      env={"JOB_RETRIES": str(retries), "CLEANUP_INTERVAL": str(CLEANUP_INTERVAL),
                           "JOB_TIMEOUT": "240"})
    return service.start(wait_for_workers=2)


@pytest.fixture(scope="module")
def with_retries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Two analysis workers, JOB_RETRIES=1."""
    service = start(tmp_path_factory, "retries", 1)
    yield service
    service.kill()


@pytest.fixture(scope="module")
def without_retries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Two analysis workers, JOB_RETRIES=0."""
    service = start(tmp_path_factory, "no-retries", 0)
    yield service
    service.kill()


def trainer_and_waiter(service: Service, dataset: str) -> tuple[str, str]:
    """Job A trains a fresh multiclass model (holding the training lock); job B, on the other worker,
    waits for that model. Returns (A, B) once B's horse is waiting."""
    client = service.redis_client()
    trainer = service.analyze({"dataset": dataset, "target_variable": "Province"})
    wait_until(lambda: model_lock_held(client), 120, message="the trainer to hold the model lock")
    waiter = service.analyze({"dataset": dataset, "target_variable": "Province", "sample_size": 200})
    # the waiter's horse reports loading_model just before it waits on the trainer's lock (worker.jobs); the
    # datasets are uploaded without a default target, so no other training holds a worker or a lock
    wait_until(lambda: (service.get(f"/job_status/{waiter}")[1] or {}).get("progress", {}).get("stage")
               == "loading_model", 60, interval=0.05, message="the waiter to wait for the model")
    assert model_lock_held(client), "the model was trained before the waiter could be killed; machine too fast?"
    return trainer, waiter


def status(service: Service, job_id: str) -> str:
    return service.get(f"/job_status/{job_id}")[1]["status"]


class TestWorkHorseKilled:
    def test_a_killed_work_horse_is_retried_and_the_job_finishes(self, with_retries):
        """SIGKILL of the horse: RQ's parent requeues the job at once (one retry spent); it then finishes."""
        service, client = with_retries, with_retries.redis_client()
        upload_fresh_dataset(service, "horse", seed=1, default_target=None)
        trainer, waiter = trainer_and_waiter(service, "horse")
        horse = work_horse(running_worker(service, waiter)["pid"])

        killed = time.monotonic()
        os.kill(horse, signal.SIGKILL)
        wait_until(lambda: job_hash(client, waiter).get("retries_left") == "0", 60, message="the retry")
        recovered = time.monotonic() - killed
        print(f"\nhorse SIGKILL -> job requeued in {recovered:.2f}s")

        assert service.wait_job(waiter, timeout=240)["status"] == "finished"
        assert service.wait_job(trainer, timeout=240)["status"] == "finished"
        assert recovered < 30

    def test_a_killed_work_horse_without_retries_fails_with_worker_died(self, without_retries):
        """No retries left: the job ends failed at once, error type WorkerDied, saying the worker died."""
        service = without_retries
        upload_fresh_dataset(service, "horse", seed=2, default_target=None)
        trainer, waiter = trainer_and_waiter(service, "horse")
        horse = work_horse(running_worker(service, waiter)["pid"])

        killed = time.monotonic()
        os.kill(horse, signal.SIGKILL)
        answer = service.wait_job(waiter, timeout=60)
        print(f"\nhorse SIGKILL, no retries -> failed in {time.monotonic() - killed:.2f}s")

        assert answer["status"] == "failed"
        assert answer["error"]["type"] == "WorkerDied" and "died" in answer["error"]["message"]
        assert "signal 9" in answer["error"]["message"]
        assert service.wait_job(trainer, timeout=240)["status"] == "finished"


class TestWorkerAndHorseKilled:
    def kill_worker_and_horse(self, service: Service, job_id: str) -> tuple[float, str]:
        worker = running_worker(service, job_id)
        horse = work_horse(worker["pid"])
        for pid in (worker["pid"], horse):
            os.kill(pid, signal.SIGKILL)
        return time.monotonic(), worker["name"]

    def test_a_job_orphaned_by_a_killed_worker_is_requeued_within_the_bound_and_finishes(self, with_retries):
        """SIGKILL of parent and horse: the cleanup requeues the job within 2 x CLEANUP_INTERVAL + 90 s."""
        service, client = with_retries, with_retries.redis_client()
        upload_fresh_dataset(service, "orphan", seed=4, default_target=None)
        trainer, waiter = trainer_and_waiter(service, "orphan")
        killed, dead = self.kill_worker_and_horse(service, waiter)

        def recovered() -> bool:
            record = job_hash(client, waiter)
            return record.get("status") != "started" or record.get("worker_name") != dead
        wait_until(recovered, BOUND, interval=0.2, message="the orphaned job to be requeued")
        seconds = time.monotonic() - killed
        print(f"\nworker+horse SIGKILL -> job requeued in {seconds:.1f}s (bound {BOUND}s)")

        assert service.wait_job(waiter, timeout=240)["status"] == "finished"
        assert service.wait_job(trainer, timeout=240)["status"] == "finished"
        assert job_hash(client, waiter)["retries_left"] == "0"
        service.wait_for_workers(2)  # supervisord restarted the killed worker
        names = {w["name"] for w in service.get("/worker-status")[1]["workers"]}
        assert dead not in names

    def test_a_job_orphaned_by_a_killed_worker_without_retries_fails_within_the_bound(self, without_retries):
        """No retries left: the cleanup fails the job (WorkerDied) within the bound."""
        service = without_retries
        upload_fresh_dataset(service, "orphan", seed=5, default_target=None)
        trainer, waiter = trainer_and_waiter(service, "orphan")
        killed, _ = self.kill_worker_and_horse(service, waiter)

        wait_until(lambda: status(service, waiter) != "started", BOUND, interval=0.2,
                   message="the orphaned job to be failed")
        seconds = time.monotonic() - killed
        print(f"\nworker+horse SIGKILL, no retries -> job failed in {seconds:.1f}s (bound {BOUND}s)")

        answer = service.wait_job(waiter, timeout=30)
        assert answer["status"] == "failed"
        assert answer["error"]["type"] == "WorkerDied" and "died" in answer["error"]["message"]
        assert service.wait_job(trainer, timeout=240)["status"] == "finished"


class TestTrainingLock:
    """A training lock dies with the work horse that held it."""

    def test_a_work_horse_killed_while_training_is_retried_and_the_job_finishes(self, with_retries):
        """The horse that holds the training lock is killed: the retry must still train and finish."""
        service, client = with_retries, with_retries.redis_client()
        upload_fresh_dataset(service, "trainer", seed=3, default_target=None)
        job = service.analyze({"dataset": "trainer", "target_variable": "Province"})
        wait_until(lambda: model_lock_held(client), 120, message="the job to hold the model lock")
        os.kill(work_horse(running_worker(service, job)["pid"]), signal.SIGKILL)
        assert service.wait_job(job, timeout=90)["status"] == "finished"


class TestJobPastItsTimeout:
    """A job past JOB_TIMEOUT ends failed as a JobTimeout, wherever it is when its time runs out."""

    def test_a_timeout_while_catboost_trains_is_a_timeout_without_retry(self, tmp_path):
        """CatBoost turns the alarm's exception into KeyboardInterrupt; the job still ends JobTimeout, once."""
        server = RedisServer(tmp_path / "redis").start()
        stack = Stack(server, env={"JOB_TIMEOUT": "1", "JOB_RETRIES": "2"}).start_web().start_workers(1)
        try:
            job_id = stack.analyze(wide_table.slow_analysis(stack))
            answer = stack.wait_job(job_id, timeout=120)
            assert answer["status"] == "failed", answer
            assert answer["error"]["type"] == "JobTimeout", answer["error"]
            assert "maximum timeout value (1 seconds)" in answer["error"]["message"]
            assert JSONQueue(stack.settings.queue_name, connection=server.client()).count == 0  # not requeued
            assert "KeyboardInterrupt" in stack.worker_logs()  # it was CatBoost's, inside the training
        finally:
            stack.stop()
            server.stop()

    def test_a_horse_stuck_past_its_timeout_ends_failed_as_a_timeout_without_retry(self, tmp_path):
        """Killed by the cleanup's stop command (after STUCK_JOB_TIMEOUT) or by RQ's monitor (timeout + 60 s):
        either way the job ends `failed` with JobTimeout, not `stopped`, not retried as a dead worker."""
        server = RedisServer(tmp_path / "redis").start()
        stack = Stack(server, env={"JOB_RETRIES": "2"}).start_web().start_workers(2)
        try:
            client = server.client()
            queue = JSONQueue(stack.settings.queue_name, connection=client)

            def stuck() -> str:  # libc's system() waits out signals: RQ's SIGALRM timeout cannot fire
                job = queue.enqueue("os.system", args=["sleep 600"], job_timeout=2, retry=Retry(max=2),
                                    failure_ttl=600)
                wait_until(lambda: job.get_status(refresh=True) == "started", 30, message="the job to start")
                return job.id

            by_cleanup = stuck()
            time.sleep(4)
            by_monitor = stuck()
            started = time.monotonic()
            assert cleanup.run_cleanup(client, stack.settings, stuck_timeout=3).stopped == [by_cleanup]
            for job_id in (by_cleanup, by_monitor):
                answer = stack.wait_job(job_id, timeout=120)
                assert answer["status"] == "failed", answer
                assert answer["error"]["type"] == "JobTimeout", answer["error"]
                assert "maximum timeout value (2 seconds)" in answer["error"]["message"]
                assert len(JSONJob.fetch(job_id, connection=client).get_executions()) == 0  # none left running
            print(f"\nhorse stuck past JOB_TIMEOUT=2s: failed by RQ's monitor after {time.monotonic() - started:.0f}s")
            assert queue.count == 0  # nothing was requeued
        finally:
            stack.stop()
            server.stop()
