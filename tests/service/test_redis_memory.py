"""A Redis that cannot fill up (docs/operations.md, "Redis memory"): from 90 % of its maxmemory the web refuses new
uploads, analyses and renders with 507 insufficient_storage saying what to delete, the workers stay alive (RQ's
own writes find room below the hard limit), and the service takes work again once a dataset is deleted."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from common.settings import Settings, container_memory_limit
from devtools import look_table
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from devtools.waiting import wait_until


def filler_csv(rows: int = 20_000, columns: int = 40) -> bytes:
    """About 7 MB of random numbers once stored (Arrow): large beside what Redis holds otherwise."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(rows, columns)), columns=[f"f{i}" for i in range(columns)])
    frame["y"] = rng.normal(size=rows)
    return frame.to_csv(index=False).encode()


def used(stack: Stack) -> int:
    return int(stack.redis().info("memory")["used_memory"])


def test_a_full_redis_refuses_new_work_keeps_workers_alive_and_recovers_after_a_delete(
        redis_server: RedisServer) -> None:
    stack = Stack(redis_server).start_web().start_workers(1)
    try:
        status, _, _ = stack.request("PUT", "/datasets/filler", raw=filler_csv(), headers={"Content-Type": "text/csv"})
        assert status == 201
        client = stack.redis()  # the upload's query buffer is freed a moment later: then fill Redis up
        wait_until(lambda: int(client.info("memory")["mem_clients_normal"]) < 2**20, 10, message="buffers freed")
        client.config_set("maxmemory", int(used(stack) / 0.95))  # above the soft limit, below the hard one
        status, answer, _ = stack.request("PUT", f"/datasets/more{look_table.UPLOAD_QUERY}",
                                          raw=look_table.csv_bytes(200), headers={"Content-Type": "text/csv"})
        assert status == 507 and answer["code"] == "insufficient_storage", answer
        assert "DELETE /datasets/<name>" in answer["error"] and "REDIS_MAXMEMORY_MB" in answer["error"]
        status, answer, _ = stack.post("/analyze", {"dataset": "filler", "target": "y", "sample_size": 50})
        assert status == 507 and answer["code"] == "insufficient_storage", answer
        time.sleep(3)  # heartbeats and the scheduler's writes go on meanwhile
        assert all(worker.poll() is None for worker in stack.workers), stack.worker_logs()
        assert stack.live_analysis_workers() == 1
        status, _, _ = stack.request("DELETE", "/datasets/filler")
        assert status == 200
        wait_until(lambda: used(stack) < 0.9 * int(client.config_get("maxmemory")["maxmemory"]), 10,
                   message="memory freed by the delete")
        status, _, _ = stack.request("PUT", f"/datasets/more{look_table.UPLOAD_QUERY}",
                                     raw=look_table.csv_bytes(200), headers={"Content-Type": "text/csv"})
        assert status == 201
        finished = stack.wait_job(stack.analyze({"dataset": "more", "target": "Score"}))
        assert finished["status"] == "finished"
    finally:
        stack.stop()


def test_the_default_maxmemory_follows_the_container_limit_not_the_host() -> None:
    """40 % of the cgroup's memory limit; 1024 MiB where there is none; an explicit value wins."""
    limit = container_memory_limit()
    expected = 1024 if limit is None else max(64, int(limit * 0.4 / 2**20))
    assert Settings.from_env({}).redis_maxmemory_mb == expected
    assert Settings.from_env({"REDIS_MAXMEMORY_MB": "300"}).redis_maxmemory_mb == 300
