"""Fault injection on whole containers (docs/how-it-works.md: Processes, Worker start-up): ten restarts in a row
of the same supervisord with the same hostname, half of them kill -9 of everything (stale records left
behind), one with a stale record planted under the exact name the next worker is forced to try; and two
supervisord instances with the same hostname on one Redis."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import redis

from common import keys
from devtools.processes import cmdline
from devtools.redis_server import RedisServer
from devtools.rq_state import job_hash
from devtools.service import Service
from devtools.waiting import wait_until

pytestmark = pytest.mark.slow

QUEUE = "shap-jobs"


def worker_pids(service: Service) -> set[int]:
    """PIDs of the service's RQ worker parents (analysis and maintenance), not their work horses."""
    parents = set()
    for pid in service.pids("python"):
        words = cmdline(pid).split()
        if words and words[-1] in ("worker", "worker.maintenance"):
            parents.add(pid)
    return {pid for pid in parents if _parent(pid) not in parents}


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def all_running(service: Service) -> bool:
    """Every program supervisord started is RUNNING (the external-Redis mode does not start `redis`)."""
    lines = [line for line in service.supervisorctl("status").stdout.splitlines() if not line.startswith("redis ")]
    return bool(lines) and all(" RUNNING " in line for line in lines)


def exactly_live(service: Service, expected: int) -> list[dict]:
    """/worker-status once it lists exactly this service's worker processes (and `expected` of them)."""
    def listed() -> list[dict] | None:
        status, body, _ = service.get("/worker-status")
        if status != 200:
            return None
        pids = {w["pid"] for w in body["workers"]}
        processes = worker_pids(service)
        return body["workers"] if len(body["workers"]) == expected and pids == processes else None
    return wait_until(listed, 60, interval=0.2, message=f"/worker-status to list exactly {expected} live workers")


def plant_record(client: redis.Redis, name: str, heartbeat_age: float) -> None:
    """A worker record as a killed container leaves it: registered, nobody listening, heartbeat `age` old."""
    from datetime import UTC, datetime, timedelta

    from rq.utils import utcformat

    stamp = utcformat(datetime.now(UTC) - timedelta(seconds=heartbeat_age))
    key = f"rq:worker:{name}"
    client.hset(key, mapping={"birth": stamp, "last_heartbeat": stamp, "queues": QUEUE, "pid": 12345,
                              "hostname": "vm", "state": "idle"})
    client.expire(key, 600)
    client.sadd("rq:workers", key)
    client.sadd(f"rq:workers:{QUEUE}", key)


def no_fatal(service: Service, log: str) -> None:
    statuses = service.supervisorctl("status").stdout
    assert "FATAL" not in statuses and "BACKOFF" not in statuses, statuses
    assert "entered FATAL" not in log and "gave up" not in log, log[-3000:]


class TestRestarts:
    def test_ten_restarts_in_a_row_always_start_and_list_exactly_the_live_workers(self, tmp_path):
        """Every start succeeds (kill -9 or SIGTERM before it, a planted stale record under the forced
        name), no program goes FATAL, /worker-status lists exactly the live workers, no job is lost."""
        server = RedisServer(tmp_path / "redis").start()
        client = server.client()
        data_dir = tmp_path / "container"  # the same volume on every start, like a restarted container
        base_env = {"REDIS_URL": server.url, "WORKER_COUNT": "1", "CLEANUP_INTERVAL": "5"}
        service = Service(data_dir, env=dict(base_env)).start(wait_for_workers=1)
        exactly_live(service, 2)
        # train the model first: a horse killed while training leaves worker/model_store.py's 900 s lock behind
        assert service.wait_job(service.analyze({"sample_size": 20}), timeout=180)["status"] == "finished"
        start_seconds: list[float] = []
        stop_seconds: list[float] = []
        kills = 0
        jobs = []
        try:
            for restart in range(1, 11):
                jobs.append(service.analyze({"sample_size": 20}))  # accepted before the restart
                if restart % 2:
                    service.kill()
                    kills += 1
                else:
                    stop_seconds.append(service.stop(timeout=120))
                env = dict(base_env)
                forced = None
                if restart in (4, 8):
                    forced = f"shap-worker-planted-{restart}"
                    # restart 4: a long-dead record (cleared at start-up, so the name is reused);
                    # restart 8: a record killed just now (still in its grace, so a fresh name is bound)
                    plant_record(client, forced, heartbeat_age=3600 if restart == 4 else 1)
                    env["WORKER_NAME"] = forced
                offset = len(service.output())
                service = Service(data_dir, env=env)
                began = time.monotonic()
                service.start(wait_for_workers=1)
                listed = exactly_live(service, 2)
                start_seconds.append(time.monotonic() - began)
                log = service.output()[offset:]
                names = {w["name"] for w in listed}
                assert len(names) == 2
                if restart == 4:
                    assert forced in names, log[-3000:]
                if restart == 8:
                    assert forced not in names and f"worker name {forced} is held by a live record" in log
                wait_until(lambda s=service: all_running(s), 30, interval=0.5, message="every program RUNNING")
                no_fatal(service, service.output()[offset:])
            for job_id in jobs:  # accepted before a SIGTERM or a kill -9: none is lost
                assert service.wait_job(job_id, timeout=180)["status"] == "finished", job_hash(client, job_id)
        finally:
            service.kill()
            server.stop()
        print(f"\n10 restarts ({kills} kill -9): start to exact /worker-status {min(start_seconds):.1f}-"
              f"{max(start_seconds):.1f}s, graceful stop {min(stop_seconds):.1f}-{max(stop_seconds):.1f}s, "
              f"{len(jobs)} jobs accepted before restarts, 0 lost")


class TestTwoInstances:
    def test_two_instances_on_one_redis_keep_each_others_workers_and_share_one_cleanup(self, tmp_path):
        """Same hostname, one Redis: unique names, neither clears the other's live workers, and the
        cleanup (scheduled or on demand) runs in one of them at a time."""
        server = RedisServer(tmp_path / "redis").start()
        client = server.client()
        env = {"REDIS_URL": server.url, "WORKER_COUNT": "1", "CLEANUP_INTERVAL": "3"}
        first = Service(tmp_path / "a", env=dict(env)).start(wait_for_workers=1)
        second = None
        try:
            births = {w["name"]: client.hget(f"rq:worker:{w['name']}", "birth") for w in exactly_live(first, 2)}
            second = Service(tmp_path / "b", env=dict(env)).start(wait_for_workers=1)

            def all_four() -> list[dict] | None:
                body = first.get("/worker-status")[1] or {}
                return body["workers"] if body.get("total_workers") == 4 else None
            names = [w["name"] for w in wait_until(all_four, 60, interval=0.2, message="4 live workers")]
            assert len(set(names)) == 4
            assert {w["name"] for w in second.get("/worker-status")[1]["workers"]} == set(names)

            time.sleep(12)  # several scheduled cleanups, from either instance, and the start-up clearing of B
            for name, birth in births.items():
                assert client.hget(f"rq:worker:{name}", "birth") == birth
                assert not client.hexists(f"rq:worker:{name}", "death")
            assert {w["name"] for w in first.get("/worker-status")[1]["workers"]} == set(names)
            assert client.zcard("rq:scheduler:scheduled_jobs") == 1

            holder = client.lock(keys.CLEANUP_LOCK, timeout=60)
            assert holder.acquire(blocking=False)
            offsets = (len(first.output()), len(second.output()))
            answers: list[int] = []
            try:
                threads = [threading.Thread(target=lambda s=s: answers.append(s.post("/admin/cleanup_jobs")[0]))
                           for s in (first, second)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(60)
                last_before = json.loads(client.get(keys.CLEANUP_LAST_RUN))["at"]
                time.sleep(4)  # a scheduled run comes due while the lock is held
            finally:
                holder.release()
            assert answers == [409, 409]
            skipped = (first.output()[offsets[0]:] + second.output()[offsets[1]:]).count(
                "cleanup skipped: another run holds the lock")
            assert skipped >= 1
            assert json.loads(client.get(keys.CLEANUP_LAST_RUN))["at"] == last_before  # nothing ran meanwhile
            assert {first.post("/admin/cleanup_jobs")[0], second.post("/admin/cleanup_jobs")[0]} == {200}
            wait_until(lambda: json.loads(client.get(keys.CLEANUP_LAST_RUN))["at"] > last_before, 30,
                       message="the cleanup to run again")

            jobs = [(s, s.analyze({"sample_size": 20})) for s in (first, second)]
            for service, job_id in jobs:
                assert service.wait_job(job_id, timeout=180)["status"] == "finished"
        finally:
            for service in (first, second):
                if service is not None:
                    service.kill()
            server.stop()
