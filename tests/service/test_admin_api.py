"""The operator endpoints of the API (docs/api.md) (/worker-status, /admin/redis_ping, /admin/queue_status,
POST /admin/cleanup_jobs) on a whole running service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common import keys
from common.rqtypes import JSONJob
from devtools.processes import children, cmdline
from devtools.redis_snapshot import snapshot
from devtools.rq_state import backdate_heartbeat, job_hash, orphan_queued_job, rq_worker
from devtools.service import Service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the module (2 analysis workers); the scheduled cleanup runs only at start."""
    running = Service(Path(tmp_path_factory.mktemp("admin")), env={"CLEANUP_INTERVAL": "3600"})
    running.start(wait_for_workers=2)
    yield running
    running.stop()


def worker_processes(service: Service) -> set[int]:
    """Worker parents: not their forks (work horses, and the maintenance worker's RQ scheduler)."""
    found = {pid for pid in service.pids("python") if cmdline(pid).split()[-1] in ("worker", "worker.maintenance")}
    forked = {child for pid in found for child in children(pid)}
    return found - forked


class TestWorkerStatus:
    def test_it_lists_exactly_the_live_worker_processes(self, service):
        """One entry per running worker process (2 analysis + maintenance), with RQ's fields."""
        status, body, _ = service.get("/worker-status")
        assert status == 200 and body["status"] == "ok"
        assert (body["active_workers"], body["total_workers"]) == (2, 3)
        assert {w["pid"] for w in body["workers"]} == worker_processes(service)
        for worker in body["workers"]:
            assert set(worker) >= {"name", "hostname", "pid", "state", "current_job", "last_heartbeat_seconds_ago",
                                   "successful_jobs", "failed_jobs"}
            assert worker["last_heartbeat_seconds_ago"] is not None and worker["last_heartbeat_seconds_ago"] < 45

    def test_it_never_lists_stale_or_silent_records(self, service):
        """A record whose heartbeat stopped, and one nobody listens to, are not live workers."""
        client = service.redis_client()
        stale = rq_worker(client, "shap-jobs", listening=False)
        backdate_heartbeat(client, stale.name, 3600)
        silent = rq_worker(client, "shap-jobs", listening=False)
        names = {w["name"] for w in service.get("/worker-status")[1]["workers"]}
        assert stale.name not in names and silent.name not in names
        for record in (stale, silent):
            record.register_death()


class TestRedisAndQueues:
    def test_redis_ping_answers_with_its_response_time(self, service):
        """GET /admin/redis_ping: success, ping and a response time."""
        status, body, _ = service.get("/admin/redis_ping")
        assert status == 200 and body["success"] is True and body["ping"] is True
        assert 0 <= body["response_time_ms"] < 5000

    def test_queue_status_counts_a_finished_job(self, service):
        """GET /admin/queue_status counts RQ's registries."""
        job_id = service.analyze({"sample_size": 20})
        assert service.wait_job(job_id)["status"] == "finished"
        status, body, _ = service.get("/admin/queue_status")
        assert status == 200 and body["redis_connected"] is True
        assert body["completed_jobs"] >= 1 and body["queued_jobs"] == 0 and body["in_progress_jobs"] == 0
        assert set(body) >= {"queued_jobs", "in_progress_jobs", "completed_jobs", "failed_jobs", "scheduled_jobs"}


class TestCleanupEndpoint:
    def test_a_dry_run_changes_nothing_and_a_real_run_requeues_the_stuck_job(self, service):
        """dry_run=1 reports the stuck job and stale worker with no write; the real run requeues it."""
        client = service.redis_client()
        assert service.supervisorctl("stop", "worker:*").returncode == 0
        job_id = service.analyze({"sample_size": 20, "reuse": False})  # the request above was identical
        job, dead = orphan_queued_job(client, "shap-jobs")
        # live processes keep writing their own heartbeats; everything else must stay as it is
        noisy = ("rq:worker:", "rq:workers", "rq:scheduler", "rq:executions:", "rq:execution:")
        before = snapshot(client, skip=noisy)

        status, body, _ = service.post("/admin/cleanup_jobs?dry_run=1")
        assert status == 200 and body["dry_run"] is True, body
        assert (body["requeued"], body["failed"], body["stale_workers_removed"]) == (1, 0, 1)
        assert body["details"]["stuck_jobs"][0]["job_id"] == job_id and body["details"]["stale_workers"] == [dead]
        assert snapshot(client, skip=noisy) == before
        assert client.exists(f"rq:worker:{dead}") and not client.hexists(f"rq:worker:{dead}", "death")

        status, body, _ = service.post("/admin/cleanup_jobs")
        assert status == 200 and body["dry_run"] is False
        assert (body["requeued"], body["stale_workers_removed"]) == (1, 1)
        assert JSONJob.fetch(job.id, connection=client).get_status() == "queued"
        assert int(job_hash(client, job_id)["retries_left"]) == 1  # JOB_RETRIES=2, one spent

        assert service.supervisorctl("start", "worker:*").returncode == 0
        assert service.wait_job(job_id, timeout=180)["status"] == "finished"

    def test_a_run_while_another_holds_the_lock_answers_409(self, service):
        """One cleanup at a time: the endpoint waits briefly, then answers 409 in the one error shape."""
        client = service.redis_client()
        holder = client.lock(keys.CLEANUP_LOCK, timeout=60)
        assert holder.acquire(blocking=False)
        try:
            status, body, _ = service.post("/admin/cleanup_jobs")
        finally:
            holder.release()
        assert status == 409 and body["success"] is False and body["code"] == "cleanup_in_progress"
        assert service.post("/admin/cleanup_jobs")[0] == 200

    def test_an_invalid_dry_run_flag_is_a_400(self, service):
        """dry_run accepts 1/true/yes and 0/false/no only."""
        status, body, _ = service.post("/admin/cleanup_jobs?dry_run=maybe")
        assert status == 400 and body["success"] is False and "dry_run" in body["error"]
