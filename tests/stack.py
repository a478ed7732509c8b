"""A lighter real stack than a whole supervisord: a private redis-server, the web app on a real
Waitress server in a thread, and real forking `python -m worker` processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from waitress.server import create_server

from common.settings import Settings
from tests.support import REPO, RedisServer, free_port, http, inherited_environ, wait_until
from web import create_app


def stack_env(redis_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = inherited_environ()
    env.update({"REDIS_URL": redis_url, "WORKER_COUNT": "2", "THREADS_PER_JOB": "1", "LOG_LEVEL": "INFO",
                "JOB_RETRIES": "1"})
    env.update(extra or {})
    return env


@dataclass
class Stack:
    redis_server: RedisServer
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    workers: list[subprocess.Popen] = field(default_factory=list)
    app: Any = None
    _server: Any = None
    _thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        return Settings.from_env(stack_env(self.redis_server.url, self.env))

    def start_web(self) -> Stack:
        self.app = app = create_app(self.settings)
        self._server = create_server(app, host="127.0.0.1", port=self.port, threads=8)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: http("GET", self.base + "/ping")[0] == 200, 10, message="web /ping")
        return self

    def start_workers(self, count: int = 2) -> Stack:
        log_dir = self.redis_server.directory
        for index in range(count):
            log = open(log_dir / f"worker-{len(self.workers)}.log", "ab")  # noqa: SIM115
            self.workers.append(subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO, stdout=log,
                                                 stderr=subprocess.STDOUT,
                                                 env=stack_env(self.redis_server.url, self.env)))
            del index
        wait_until(lambda: self.live_analysis_workers() >= count, 60, interval=0.2, message="workers")
        return self

    def live_analysis_workers(self) -> int:
        status, body, _ = http("GET", self.base + "/worker-status", headers=self.headers())
        return body.get("active_workers", 0) if status == 200 else 0

    def headers(self) -> dict[str, str]:
        key = self.env.get("API_KEY")
        return {"X-API-KEY": key} if key else {}

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any, dict]:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return http(method, self.base + path, body, headers=headers, **kwargs)

    def analyze(self, body: dict[str, Any]) -> str:
        status, answer, _ = self.request("POST", "/analyze", body)
        assert status == 202, answer
        return answer["job_id"]

    def wait_job(self, job_id: str, timeout: float = 180) -> dict:
        def ended() -> dict | None:
            status, answer, _ = self.request("GET", f"/job_status/{job_id}?wait=10")
            return answer if status == 200 and answer["status"] in ("finished", "failed", "stopped") else None

        return wait_until(ended, timeout, interval=0.01, message=f"job {job_id}")

    def redis(self) -> redis.Redis:
        return self.redis_server.client()

    def worker_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in Path(self.redis_server.directory).glob("worker-*.log"))

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._server is not None:
            self._server.close()
            self.app.extensions["shap"].invalidations.stop()
