"""A lighter real stack than a whole supervisord: a private redis-server, the web app on a real
Waitress server in a thread, and real forking `python -m worker` processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import redis
from waitress.server import create_server

from common.settings import Settings
from devtools.environment import REPO, inherited_environ
from devtools.http import free_port
from devtools.redis_server import RedisServer
from devtools.service_client import ServiceClient
from devtools.waiting import wait_until
from web import create_app


def stack_env(redis_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = inherited_environ()
    env.update({"REDIS_URL": redis_url, "WORKER_COUNT": "2", "THREADS_PER_JOB": "1", "LOG_LEVEL": "INFO",
                "JOB_RETRIES": "1"})
    env.update(extra or {})
    return env


@dataclass
class Stack(ServiceClient):
    redis_server: RedisServer
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    workers: list[subprocess.Popen] = field(default_factory=list)
    app: Any = None
    _server: Any = None
    _thread: threading.Thread | None = None
    job_timeout: ClassVar[float] = 180

    def environ(self) -> dict[str, str]:
        return stack_env(self.redis_server.url, self.env)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.environ())

    def start_web(self) -> Stack:
        self.app = app = create_app(self.settings)
        self._server = create_server(app, host="127.0.0.1", port=self.port, threads=self.settings.web_threads,
                                     max_request_body_size=self.settings.waitress_max_body)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: self.get("/ping")[0] == 200, 10, message="web /ping")
        return self

    def start_workers(self, count: int = 2) -> Stack:
        log_dir = self.redis_server.directory
        for _ in range(count):
            log = open(log_dir / f"worker-{len(self.workers)}.log", "ab")  # noqa: SIM115
            self.workers.append(subprocess.Popen([sys.executable, "-m", "worker"], cwd=REPO, stdout=log,
                                                 stderr=subprocess.STDOUT, env=self.environ()))
        wait_until(lambda: self.live_analysis_workers() >= count, 60, interval=0.2, message="workers")
        return self

    def live_analysis_workers(self) -> int:
        status, body, _ = self.request("GET", "/worker-status")
        return int(body.get("active_workers", 0)) if status == 200 else 0

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
