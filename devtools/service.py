"""The whole product as `make run` starts it (scripts/entrypoint.py -> supervisord), in a temp DATA_DIR
on a free port, with helpers that drive it into the states the fault tests need."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from devtools.environment import REPO, VENV_BIN, inherited_environ
from devtools.http import free_port
from devtools.processes import cmdline, session_pids
from devtools.service_client import ServiceClient
from devtools.waiting import wait_until


@dataclass
class Service(ServiceClient):
    """The whole product as `make run` starts it (scripts/entrypoint.py -> supervisord) in a temp DATA_DIR."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    started_at: float = 0.0

    def environ(self) -> dict[str, str]:
        env = inherited_environ()
        env.update({"DATA_DIR": str(self.data_dir), "PORT": str(self.port), "WORKER_COUNT": "2",
                    "THREADS_PER_JOB": "1", "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                    "LOG_LEVEL": "INFO"})
        env.update(self.env)
        return env

    def start(self, wait_for_workers: int | None = None) -> Service:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "service.out", "ab")  # noqa: SIM115
        self.started_at = time.monotonic()
        self.process = subprocess.Popen([sys.executable, str(REPO / "scripts" / "entrypoint.py")],
                                        env=self.environ(), stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                        start_new_session=True)
        wait_until(lambda: self.get("/ping")[0] == 200 if self.alive() else self._died(), 30,
                   message="/ping")
        if wait_for_workers:
            self.wait_for_workers(wait_for_workers)
        return self

    def _died(self) -> bool:
        raise AssertionError(f"service exited early:\n{self.output()[-4000:]}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        path = self.data_dir / "service.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        wait_until(lambda: (self.get("/worker-status")[1] or {}).get("active_workers", 0) >= count, timeout,
                   interval=0.2, message=f"{count} analysis workers")

    def supervisorctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(REPO / "supervisord.conf"), *args],
                              env=self.environ(), capture_output=True, text=True, timeout=60)

    def redis_client(self) -> redis.Redis:
        url = self.env.get("REDIS_URL") or f"unix://{self.data_dir}/redis.sock"
        return redis.Redis.from_url(url, socket_timeout=5)

    def stop(self, timeout: float = 120) -> float:
        """SIGTERM supervisord and wait; returns how long the shutdown took."""
        if not self.alive():
            return 0.0
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return time.monotonic() - started

    def kill(self) -> None:
        """kill -9 of everything: supervisord, its programs and their children (a container kill)."""
        if self.process is None:
            return
        for pid in session_pids(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)

    def pids(self, pattern: str) -> list[int]:
        """PIDs of this service's processes whose command line contains `pattern`."""
        assert self.process is not None
        return [pid for pid in session_pids(self.process.pid) if pattern in cmdline(pid)]


def upload_fresh_dataset(service: ServiceClient, name: str, seed: int, rows: int = 2000,
                         default_target: str | None = "Mortgage_Approvals") -> str:
    """PUT a new copy of the built-in dataset (another seed), so its models are not trained yet: a
    `Province` analysis on it then trains a multiclass model for several seconds. `default_target` is
    trained at upload, by a job that takes a worker for a second or two (None: no such job). Returns its
    version."""
    from store import default_dataset

    buffer = io.StringIO()
    default_dataset.generate(rows=rows, seed=seed).to_csv(buffer, index=False)
    query = "id_columns=zip_code&exclude_columns=latitude,longitude,Mortgage_Applications"
    if default_target is not None:
        query += f"&default_target={default_target}"
    status, body, _ = service.put(f"/datasets/{name}?{query}", raw=buffer.getvalue().encode(),
                                  headers={"Content-Type": "text/csv"})
    assert status in (200, 201), body
    return str(body["version"])


def running_worker(service: ServiceClient, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """The /worker-status entry of the worker whose work horse runs `job_id` (waits until one does)."""
    def find() -> dict[str, Any] | None:
        body = service.get("/worker-status")[1] or {}
        return next((w for w in body.get("workers", []) if w["current_job"] == job_id), None)
    return wait_until(find, timeout, interval=0.05, message=f"a worker running {job_id}")
