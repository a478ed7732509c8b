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


def inherited_environ() -> dict[str, str]:
    """This process's environment without the service settings a test sets itself (Redis, key, workers)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "API_KEY", "WORKER_"))}


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


# --- fault-injection helpers (issue 3) ---------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (an RQ worker's work horse is its only child)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def job_hash(client: redis.Redis, job_id: str) -> dict[str, str]:
    """RQ's record of a job (rq:job:<id>) with its text fields decoded; binary fields are left out."""
    fields = {}
    raw: dict[bytes, bytes] = client.hgetall(f"rq:job:{job_id}")  # type: ignore[assignment]
    for key, value in raw.items():
        try:
            fields[key.decode()] = value.decode()
        except UnicodeDecodeError:
            continue
    return fields


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def snapshot(client: redis.Redis, skip: tuple[str, ...] = ()) -> dict[bytes, Any]:
    """Every key of a Redis database with its type and value (TTLs left out): for 'changes nothing' checks."""
    dump: dict[bytes, Any] = {}
    found: list[bytes] = list(client.scan_iter(count=1000))
    for key in sorted(found):
        if key.decode(errors="replace").startswith(skip):
            continue
        kind = as_text(client.type(key))
        if kind == "string":
            value: Any = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = None
        dump[key] = (kind, value)
    return dump


def rq_worker(client: redis.Redis, queue_name: str, name: str | None = None, *, listening: bool = True) -> Any:
    """A real RQ worker record, born with RQ's own calls and (if `listening`) subscribed to its pubsub
    channel, in this process and without forking: what the liveness rule sees of a live worker."""
    from fleet.naming import unique_name
    from worker.rq_worker import build_worker

    worker = build_worker(client, [queue_name], name or unique_name("test-worker"))
    worker.register_birth()
    if listening:
        worker.subscribe()
        wait_until(lambda: client.pubsub_numsub(worker.pubsub_channel_name)[0][1] > 0, 10,
                   message="pubsub subscription")
    return worker


def begin_execution(worker: Any, queue_name: str) -> Any:
    """Dequeue the next job of `queue_name` and start it exactly as RQ's parent and work horse do,
    without running it: the job is then `started` on `worker`."""
    from common.rqtypes import JSONJob, JSONQueue

    queue = JSONQueue(queue_name, connection=worker.connection)
    dequeued = JSONQueue.dequeue_any([queue], None, connection=worker.connection, job_class=JSONJob)
    assert dequeued is not None, f"no job waiting in {queue_name}"
    job = dequeued[0]
    worker.prepare_execution(job)
    worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
    return job


def backdate_heartbeat(client: redis.Redis, worker_name: str, seconds: float) -> None:
    """Make a worker record look as if its last heartbeat was `seconds` ago (a process that stopped)."""
    from datetime import UTC, datetime, timedelta

    from rq.utils import utcformat

    stamp = utcformat(datetime.now(UTC) - timedelta(seconds=seconds))
    client.hset(f"rq:worker:{worker_name}", mapping={"last_heartbeat": stamp, "birth": stamp})


def orphan_queued_job(client: redis.Redis, queue_name: str) -> tuple[Any, str]:
    """Start the next queued job of `queue_name` on a worker record that then 'dies' (it never listens or
    heartbeats again): the state a SIGKILLed container leaves behind. Returns (job, dead worker name).
    Stop the service's own workers first, or they take the job."""
    from fleet.liveness import HEARTBEAT_DEADLINE

    worker = rq_worker(client, queue_name, listening=False)
    job = begin_execution(worker, queue_name)
    backdate_heartbeat(client, worker.name, HEARTBEAT_DEADLINE + 30)
    return job, worker.name


def run_script(name: str, *args: str, env: dict[str, str] | None = None,
               timeout: float = 180) -> subprocess.CompletedProcess:
    """Run one of scripts/<name>.py as an operator would, with the venv's Python."""
    return subprocess.run([sys.executable, str(REPO / "scripts" / f"{name}.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def upload_fresh_dataset(service: Service, name: str, seed: int, rows: int = 2000) -> str:
    """PUT a new copy of the built-in dataset (another seed), so its models are not trained yet: a
    `Province` analysis on it then trains a multiclass model for several seconds. Returns its version."""
    import io

    from common import default_dataset

    buffer = io.StringIO()
    default_dataset.generate(rows=rows, seed=seed).to_csv(buffer, index=False)
    query = ("id_columns=zip_code&exclude_columns=latitude,longitude,Mortgage_Applications"
             "&default_target=Mortgage_Approvals")
    status, body, _ = service.put(f"/datasets/{name}?{query}", raw=buffer.getvalue().encode(),
                                  headers={"Content-Type": "text/csv"})
    assert status in (200, 201), body
    return body["version"]


def running_worker(service: Service, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """The /worker-status entry of the worker whose work horse runs `job_id` (waits until one does)."""
    def find() -> dict[str, Any] | None:
        body = service.get("/worker-status")[1] or {}
        return next((w for w in body.get("workers", []) if w["current_job"] == job_id), None)
    return wait_until(find, timeout, interval=0.05, message=f"a worker running {job_id}")


def work_horse(worker_pid: int, timeout: float = 30) -> int:
    """The pid of the work horse a worker parent forked (its only child)."""
    return wait_until(lambda: (children(worker_pid) or [0])[0], timeout, message=f"the work horse of {worker_pid}")


def model_lock_held(client: redis.Redis) -> bool:
    """Somebody is training a model right now (the model-training lock exists)."""
    return any(True for _ in client.scan_iter(match="shap:lock:model:*"))
