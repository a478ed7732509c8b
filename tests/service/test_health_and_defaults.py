"""/ping, /health and the default dataset as the web serves them."""

from __future__ import annotations

import os
from pathlib import Path

from common import __version__
from devtools.redis_server import RedisServer
from devtools.stack import Stack


def test_ping_shape(web_only: Stack) -> None:
    """/ping answers status, message, timestamp and version."""
    status, answer, _ = web_only.request("GET", "/ping")
    assert status == 200
    assert set(answer) == {"status", "message", "timestamp", "version"}
    assert answer["status"] == "ok" and answer["version"] == __version__


def test_health_shape_without_workers(web_only: Stack) -> None:
    """/health reports Redis up, zero live workers (degraded), queue counts and memory."""
    status, answer, _ = web_only.request("GET", "/health")
    assert status == 200
    assert {"status", "redis_connected", "workers", "queue", "version", "memory_usage_mb"} <= set(answer)
    assert answer["redis_connected"] is True and answer["status"] == "degraded"
    assert answer["workers"] == {"active": 0, "total": 0, "analysis": 0}
    assert set(answer["queue"]) == {"queued", "started", "failed"}
    # the web runs in this test's process (a thread), so it reports this process's resident memory, which
    # grows with whatever the suite ran here before (an absolute bound failed at 1.1 GB late in the suite)
    with open("/proc/self/statm") as statm:
        resident_mb = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    assert answer["memory_usage_mb"] > 0 and abs(answer["memory_usage_mb"] - resident_mb) < 64


def test_default_dataset_path_replaces_the_builtin_table(redis_server: RedisServer, tmp_path: Path) -> None:
    """With DEFAULT_DATASET_PATH set, `default` is that CSV."""
    csv = tmp_path / "mine.csv"
    csv.write_text("a,b\n" + "".join(f"{i},{i % 4}\n" for i in range(25)))
    running = Stack(redis_server, env={"DEFAULT_DATASET_PATH": str(csv)}).start_web()
    try:
        status, meta, _ = running.request("GET", "/metadata")
        assert status == 200
        assert meta["row_count"] == 25 and [c["name"] for c in meta["columns"]] == ["a", "b"]
        status, answer, _ = running.request("POST", "/analyze", {})
        assert status == 400 and "default_target" in answer["error"] and answer["code"] == "invalid_request"
    finally:
        running.stop()
