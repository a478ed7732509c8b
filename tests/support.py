"""Real parts for tests: a private redis-server, a whole service under supervisord, HTTP helpers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@dataclass
class RedisServer:
    """A redis-server of our own on a free TCP port in a temp dir (never the machine's shared one)."""

    directory: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = True
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes" if self.appendonly else "no", "--save", "", "--maxmemory-policy", "noeviction",
             "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self._pings, 10, message=f"redis on port {self.port}")
        return self

    def _pings(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.exceptions.ConnectionError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None, timeout: float = 40) -> tuple[int, Any, dict[str, str]]:
    """One HTTP request; returns (status, parsed JSON body or text, headers)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None and raw is None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, payload, hdrs = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, payload, hdrs = error.code, error.read(), dict(error.headers)
    try:
        return status, json.loads(payload), hdrs
    except ValueError:
        return status, payload.decode(errors="replace"), hdrs


@dataclass
class Service:
    """The whole product as `make run` starts it (scripts/entrypoint.py -> supervisord) in a temp DATA_DIR."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    started_at: float = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "API_KEY", "WORKER_"))}
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

    def get(self, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        try:
            return http("GET", self.base + path, **kwargs)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None, {}

    def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        return http("POST", self.base + path, body, **kwargs)

    def put(self, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        return http("PUT", self.base + path, **kwargs)

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        wait_until(lambda: (self.get("/worker-status")[1] or {}).get("active_workers", 0) >= count, timeout,
                   interval=0.2, message=f"{count} analysis workers")

    def supervisorctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(REPO / "supervisord.conf"), *args],
                              env=self.environ(), capture_output=True, text=True, timeout=60)

    def redis_client(self) -> redis.Redis:
        url = self.env.get("REDIS_URL") or f"unix://{self.data_dir}/redis.sock"
        return redis.Redis.from_url(url, socket_timeout=5)

    def analyze(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        status, answer, _ = self.post("/analyze", body, headers=headers)
        assert status == 202, answer
        return answer["job_id"]

    def wait_job(self, job_id: str, timeout: float = 120, headers: dict[str, str] | None = None) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, answer, _ = self.get(f"/job_status/{job_id}?wait=10", headers=headers)
            if status == 200 and answer["status"] in ("finished", "failed", "stopped", "canceled"):
                return answer
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not end within {timeout}s")

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


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def session_pids(session: int) -> list[int]:
    """Every live process in a session: supervisord puts each program in its own process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session:
                    found.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return found
