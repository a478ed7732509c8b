"""Shared helpers of the benchmarks: real services on loopback, a keep-alive load generator, figures.

Benchmarks are not tests: they print figures, they assert nothing about time. Every script ends by
printing ONE JSON line (`emit`). Absolute times drift on this shared 2-core machine; every script
therefore measures its own baseline in the same run and reports ratios against it.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.environment import REPO
from devtools.http import free_port
from devtools.processes import children
from devtools.redis_server import RedisServer
from devtools.service import Service
from devtools.waiting import wait_until

# The harness (devtools/, shared with tests/) re-exported for the benchmark scripts.
__all__ = ["REPO", "RedisServer", "Service", "children", "free_port", "wait_until"]

# "reuse": False: the benchmarks measure the computation, not the stored answer of an identical request
DEFAULT_ANALYSIS: dict[str, Any] = {"target_variable": "Mortgage_Approvals", "sample_size": 1500, "reuse": False}


def emit(name: str, figures: dict[str, Any]) -> None:
    """The one JSON line a benchmark ends with."""
    print(json.dumps({"bench": name, **figures}, sort_keys=False), flush=True)


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def rounded(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as handle:
        mem_kb = next((int(line.split()[1]) for line in handle if line.startswith("MemTotal")), 0)
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "memory_gb": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "kernel": platform.release(),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def arguments(doc: str | None, **defaults: int) -> argparse.Namespace:
    """A script's command line: its docstring as the help, and one integer option per default
    (`native_rows=3` is `--native-rows`, 3 unless given)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    return parser.parse_args()


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def running_service(directory: Path, env: dict[str, str] | None = None,
                    workers: int | None = None) -> Iterator[Service]:
    """The whole product as `make run` starts it, in a temp DATA_DIR on a free port; always stopped."""
    service = Service(directory, env=dict(env or {}))
    try:
        service.start(wait_for_workers=workers)
        yield service
    finally:
        if service.alive():
            with contextlib.suppress(subprocess.TimeoutExpired):  # stop() killed it
                service.stop(timeout=60)


def wait_finished(service: Service, job_id: str, timeout: float = 300) -> dict[str, Any]:
    answer = service.wait_job(job_id, timeout=timeout)
    if answer["status"] != "finished":
        raise RuntimeError(f"job {job_id} ended {answer['status']}: {answer.get('error')}")
    return answer


def job_meta(service: Service, job_id: str) -> dict[str, Any]:
    from common.rqtypes import JSONJob

    return dict(JSONJob.fetch(job_id, connection=service.redis_client()).meta)


def forget_models(client: Any) -> int:
    """Delete every stored model, so the next analysis trains (the cold case)."""
    names = list(client.scan_iter(match="shap:model:*", count=1000))
    return int(client.delete(*names)) if names else 0


# ---------------------------------------------------------------- keep-alive load generator


@dataclass
class Target:
    port: int
    path: str
    headers: dict[str, str]
    requests: int | None = None  # each client stops after this many requests (or at the deadline)


def _client_thread(target: Target, deadline: float, latencies: list[float], sizes: list[int],
                   errors: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    sent = 0
    try:
        while time.perf_counter() < deadline and (target.requests is None or sent < target.requests):
            sent += 1
            started = time.perf_counter()
            try:
                connection.request("GET", target.path, headers=target.headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(type(exc).__name__)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
                continue
            latencies.append(time.perf_counter() - started)
            sizes.append(len(body))
            if response.status != 200:
                errors.append(f"HTTP {response.status}")
    finally:
        connection.close()


def _client_process(target: Target, threads: int, start_at: float, duration: float, queue: Any) -> None:
    latencies: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.perf_counter() + duration
    pool = [threading.Thread(target=_client_thread, args=(target, deadline, latencies, sizes, errors))
            for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put((latencies, sizes, errors))


def load(port: int, path: str, *, clients: int = 16, duration: float = 4.0, processes: int = 2,
         headers: dict[str, str] | None = None, requests: int | None = None) -> dict[str, Any]:
    """`clients` concurrent keep-alive GETs of one path for `duration` seconds (or until each client has
    sent `requests`, `duration` then a cap), from `processes` client processes
    (so the client's own GIL is not the limit); requests/s and latency percentiles."""
    target = Target(port, path, dict(headers or {}), requests)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    per_process = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    start_at = time.time() + 0.3
    workers = [context.Process(target=_client_process, args=(target, n, start_at, duration, queue))
               for n in per_process if n]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    for _ in workers:
        lat, size, err = queue.get(timeout=duration + 120)
        latencies += lat
        sizes += size
        errors += err
    for worker in workers:
        worker.join(30)
    elapsed = time.time() - start_at if requests is not None else duration  # the clients' own wall time
    return {
        "rps": rounded(len(latencies) / elapsed, 1),
        "p50_ms": rounded(1000 * percentile(latencies, 50), 2) if latencies else None,
        "p99_ms": rounded(1000 * percentile(latencies, 99), 2) if latencies else None,
        "requests": len(latencies),
        "errors": len(errors),
        "bytes": int(median([float(s) for s in sizes])) if sizes else 0,
    }


# ---------------------------------------------------------------- the web program's own Waitress settings


def waitress_command(port: int, call: str, web_threads: int = 16) -> list[str]:
    """The `web` program's command line from supervisord.conf, on another port and app: a bare app
    served with it runs on exactly the service's Waitress settings."""
    parser = configparser.RawConfigParser()
    parser.read(REPO / "supervisord.conf")
    command = parser.get("program:web", "command").replace("\n", " ")
    command = command.replace("%(ENV_PORT)s", str(port)).replace("%(ENV_WEB_THREADS)s", str(web_threads))
    command = command.replace("%(ENV_WAITRESS_MAX_BODY)s", str(51 * 2**20))
    args = shlex.split(command)
    args[0] = str(Path(sys.executable).parent / args[0])
    index = args.index("--call")
    return [*args[:index], "--call", call]


def pss_mb(pid: int) -> float:
    """Proportional set size: a page shared by n processes (a forked worker's copy-on-write pages, a
    library's code) counts 1/n in each, so a sum over processes counts it once."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak_rss(pid: int) -> None:
    """Set a process's VmHWM (peak RSS) back to its current RSS (proc(5), clear_refs: 5), so that the next
    reading of VmHWM is the peak of what happens from now on."""
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0
