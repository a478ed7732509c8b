"""With Redis unreachable the web answers 503 + Retry-After in the canonical shape, fast, never 500."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.http import free_port, http
from devtools.redis_server import RedisServer
from devtools.stack import Stack


@pytest.fixture
def orphan_web(tmp_path: Path) -> Iterator[Stack]:
    """A web process whose REDIS_URL points at a port nobody listens on."""
    nobody = RedisServer(tmp_path / "none", port=free_port())  # never started
    running = Stack(nobody, env={"REDIS_TIMEOUT": "2"}).start_web()
    yield running
    running.stop()


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/analyze", {"target_variable": "Mortgage_Approvals"}),
    ("GET", "/job_status/abc", None),
    ("GET", "/datasets", None),
    ("GET", "/metadata", None),
    ("GET", "/admin/redis_ping", None),
    ("GET", "/worker-status", None),
])
def test_redis_down_gives_503_with_retry_after(orphan_web: Stack, method: str, path: str, body: dict | None) -> None:
    """Every Redis-backed endpoint answers 503, Retry-After and code redis_unavailable within REDIS_TIMEOUT."""
    started = time.monotonic()
    status, answer, headers = orphan_web.request(method, path, body)
    elapsed = time.monotonic() - started
    assert status == 503, answer
    assert answer["success"] is False and answer["code"] == "redis_unavailable"
    assert int(headers["Retry-After"]) > 0
    assert elapsed < 2 + 3  # REDIS_TIMEOUT plus slack for a loaded machine


def test_health_reports_redis_down(orphan_web: Stack) -> None:
    """/health answers 503 with redis_connected false."""
    status, answer, _ = http("GET", orphan_web.base + "/health")
    assert status == 503
    assert answer["redis_connected"] is False


def test_ping_needs_no_redis(orphan_web: Stack) -> None:
    """/ping answers 200 with Redis down."""
    status, answer, _ = http("GET", orphan_web.base + "/ping")
    assert status == 200 and answer["status"] == "ok"
