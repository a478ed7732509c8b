"""The scheduled cleanup for real (docs/how-it-works.md, Processes; docs/operations.md): rq-scheduler
enqueues it under its fixed id on the maintenance queue, the maintenance worker runs it, everything stored is
JSON (never pickle), a restart does not duplicate it, and a stopped maintenance worker does not make it pile up."""

from __future__ import annotations

import base64
import json
import time
import zlib

import pytest
import redis

from common import keys
from common.rqtypes import JSONJob
from devtools.redis_server import RedisServer
from devtools.rq_state import backdate_heartbeat, rq_worker
from devtools.service import Service
from devtools.waiting import wait_until
from fleet.cleanup import CLEANUP_JOB_ID

pytestmark = pytest.mark.slow

MAINTENANCE = "shap-jobs-maintenance"


def last_run(client: redis.Redis) -> float:
    raw = client.get(keys.CLEANUP_LAST_RUN)
    return json.loads(raw)["at"] if raw else 0.0


def advanced(client: redis.Redis, since: float, timeout: float = 60) -> float:
    return wait_until(lambda: last_run(client) > since and last_run(client), timeout, interval=0.2,
                      message="a scheduled cleanup run")


def assert_everything_is_json(client: redis.Redis) -> int:
    """Every RQ job's data and every stored result decode as JSON: no pickle was written."""
    checked = 0
    for key in client.scan_iter(match="rq:job:*"):
        if client.type(key) != b"hash":
            continue
        data = client.hget(key, "data")
        if data:
            json.loads(zlib.decompress(data))
            checked += 1
    for key in client.scan_iter(match="rq:results:*"):
        for _, fields in client.xrange(key):
            if b"return_value" in fields:
                json.loads(base64.b64decode(fields[b"return_value"]))
                checked += 1
    return checked


class TestScheduledCleanup:
    def test_the_scheduled_cleanup_runs_on_the_maintenance_worker_once_per_interval(self, tmp_path):
        """It repairs for real (a stale record disappears), runs on the maintenance queue, stores JSON,
        survives a restart without a duplicate, and does not pile up while the maintenance worker is down."""
        server = RedisServer(tmp_path / "redis").start()
        client = server.client()
        env = {"REDIS_URL": server.url, "WORKER_COUNT": "1", "CLEANUP_INTERVAL": "2"}
        service = Service(tmp_path / "svc", env=env).start(wait_for_workers=1)
        try:
            first = advanced(client, 0)
            stale = rq_worker(client, "shap-jobs", listening=False)
            backdate_heartbeat(client, stale.name, 3600)
            # the death mark is set during the run, the last-run record at its end: wait for both
            wait_until(lambda: client.hexists(stale.key, "death") and last_run(client) > first, 30, interval=0.2,
                       message="the scheduled cleanup to clear the stale record and record its run")

            job = JSONJob.fetch(CLEANUP_JOB_ID, connection=client)
            assert job.origin == MAINTENANCE and job.func_name == "fleet.cleanup.scheduled_cleanup"
            assert (job.worker_name or "").startswith("shap-maintenance-")
            assert client.zrange("rq:scheduler:scheduled_jobs", 0, -1) == [CLEANUP_JOB_ID.encode()]

            service.stop()
            service = Service(tmp_path / "svc", env=env).start(wait_for_workers=1)
            restarted = advanced(client, last_run(client))
            assert client.zrange("rq:scheduler:scheduled_jobs", 0, -1) == [CLEANUP_JOB_ID.encode()]
            assert client.llen(f"rq:queue:{MAINTENANCE}") <= 1

            assert service.supervisorctl("stop", "maintenance").returncode == 0
            wait_until(lambda: client.llen(f"rq:queue:{MAINTENANCE}") == 1, 30, interval=0.2,
                       message="the cleanup to wait in the maintenance queue")
            stuck_at = last_run(client)
            time.sleep(3 * 2 + 1)  # three more intervals, and scheduler polls, with nobody to run the cleanup
            assert last_run(client) == stuck_at
            assert client.lrange(f"rq:queue:{MAINTENANCE}", 0, -1) == [CLEANUP_JOB_ID.encode()]
            assert service.supervisorctl("start", "maintenance").returncode == 0
            advanced(client, restarted)

            assert assert_everything_is_json(client) >= 2
        finally:
            service.kill()
            server.stop()
