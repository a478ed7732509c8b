"""Fault injection on Redis (docs: how-it-works.md Processes, api.md, operations.md): the Redis server is stopped for
20 s while jobs run and wait, then started again on the same port and append-only file."""

from __future__ import annotations

import time

import pytest

from devtools.http import http
from devtools.redis_server import RedisServer
from devtools.service import Service
from devtools.waiting import wait_until

pytestmark = pytest.mark.slow

REDIS_TIMEOUT = 2.0
OUTAGE_SECONDS = 20
PROBES = [("POST", "/analyze", {"target_variable": "Province"}), ("GET", "/job_status/{job}", None),
          ("GET", "/worker-status", None), ("GET", "/admin/queue_status", None), ("GET", "/admin/redis_ping", None),
          ("POST", "/admin/cleanup_jobs?dry_run=1", None), ("GET", "/metadata", None), ("GET", "/datasets", None)]


def probe(service: Service, method: str, path: str, body: object) -> tuple[int, object, dict, float]:
    started = time.monotonic()
    status, answer, headers = http(method, service.base + path, body, timeout=30)
    return status, answer, headers, time.monotonic() - started


class TestRedisOutage:
    def test_a_20_second_outage_under_load_answers_503_and_loses_no_job(self, tmp_path):
        """While Redis is down the web answers 503 (one error shape, Retry-After) within about REDIS_TIMEOUT,
        never 500; afterwards the workers recover and every job accepted before the outage finishes."""
        server = RedisServer(tmp_path / "redis").start()
        service = Service(tmp_path / "svc", env={"REDIS_URL": server.url, "REDIS_TIMEOUT": str(REDIS_TIMEOUT),
                                                 "CLEANUP_INTERVAL": "5", "JOB_TIMEOUT": "300"})
        service.start(wait_for_workers=2)
        try:
            # Train the models first, so the outage hits analyses (the case users meet), and the jobs
            # after it are not held up by a training lock that must first expire (worker/model_store.py).
            for target in ("Province", "Mortgage_Approvals"):
                assert service.wait_job(service.analyze({"target_variable": target}), 240)["status"] == "finished"
            accepted = [service.analyze({"target_variable": target, "reuse": False})  # computed, not reused
                        for _ in range(8) for target in ("Province", "Mortgage_Approvals")]
            wait_until(lambda: service.get("/admin/queue_status")[1]["in_progress_jobs"] > 0, 60,
                       message="a job in progress")

            server.stop()
            down = time.monotonic()
            samples: list[tuple[str, int, object, dict, float]] = []
            while time.monotonic() - down < OUTAGE_SECONDS:
                for method, path, body in PROBES:
                    status, answer, headers, seconds = probe(service, method, path.format(job=accepted[0]), body)
                    samples.append((f"{method} {path}", status, answer, headers, seconds))
                health = probe(service, "GET", "/health", None)
                ping = probe(service, "GET", "/ping", None)
                assert health[0] == 503 and health[1]["redis_connected"] is False, health[1]
                assert ping[0] == 200
            server.start()
            back = time.monotonic()

            for name, status, answer, headers, seconds in samples:
                assert status == 503, (name, status, answer)
                assert isinstance(answer, dict) and answer["success"] is False, (name, answer)
                assert answer["code"] == "redis_unavailable" and answer["error"], (name, answer)
                assert headers.get("Retry-After"), (name, headers)
                assert seconds <= REDIS_TIMEOUT + 3, (name, seconds)

            finished = {job: service.wait_job(job, timeout=300)["status"] for job in accepted}
            recovered = time.monotonic() - back
            assert set(finished.values()) == {"finished"}, finished
            service.wait_for_workers(2, timeout=120)
            statuses = service.supervisorctl("status").stdout
            assert "FATAL" not in statuses and "entered FATAL" not in service.output(), statuses
            worst = max(seconds for *_, seconds in samples)
            print(f"\nRedis down {OUTAGE_SECONDS}s: {len(samples)} requests, all 503 + Retry-After, slowest "
                  f"{worst:.2f}s (REDIS_TIMEOUT {REDIS_TIMEOUT}s); {len(accepted)} jobs accepted before, all "
                  f"finished {recovered:.0f}s after Redis returned; 0 lost")
        finally:
            service.kill()
            server.stop()
