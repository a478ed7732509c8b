"""The image itself, built from the Dockerfile and run by a real Docker engine (`make image-test`, which builds
it and sets SHAP_IMAGE_TEST=1; `make test` skips this module). Containers run on the host's network (--network
host, free loopback ports), as the image's non-root user, and are removed with their volumes at the end.

In order: one container with a named volume serves, runs every program, turns healthy, analyses, draws every
plot kind and passes shap-verify inside; `docker kill -s KILL` then `docker start` brings fresh workers and
finishes the orphaned job within the documented bound, the dataset still in the volume; `docker stop` ends
within the shutdown budget. Then two containers on one private redis-server (REDIS_URL) serve and share jobs.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from devtools import look_table
from devtools.http import free_port
from devtools.redis_server import RedisServer
from devtools.service import upload_fresh_dataset
from devtools.service_client import ServiceClient
from devtools.waiting import wait_until
from tests.contract.test_deploy_contract import stopwaitsecs_sum
from tests.faults.test_container_smoke import expected_programs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("SHAP_IMAGE_TEST") != "1",
                       reason="the image test needs a Docker engine and a built image: run `make image-test`"),
]

IMAGE = os.environ.get("SHAP_IMAGE", "shap-microservice:image-test")
IMAGE_USER = 10001  # the Dockerfile's USER
JOB_TIMEOUT = 120  # `-e JOB_TIMEOUT`: keeps the shutdown budget (and this test's stop bound) short
CLEANUP_INTERVAL = 5
ORPHAN_BOUND = 2 * CLEANUP_INTERVAL + 90  # README, Operations: an orphaned job is requeued or failed within this
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS: list[tuple[str, dict[str, str]]] = [
    ("bar", {}), ("beeswarm", {"max_display": "3"}), ("waterfall", {"row": "A0005"}),
    ("dependence", {"feature": "Income", "color": "Region"}), ("heatmap", {}),
]


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


@dataclass
class Container(ServiceClient):
    """One container of the image on the host's network: PORT is a free loopback port."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    volume: str | None = None

    def run(self, wait: bool = True) -> Container:
        settings = {"PORT": str(self.port), "WORKER_COUNT": "2", "THREADS_PER_JOB": "1",
                    "JOB_TIMEOUT": str(JOB_TIMEOUT), "CLEANUP_INTERVAL": str(CLEANUP_INTERVAL), "LOG_LEVEL": "INFO",
                    **self.env}
        options = [f"--name={self.name}", "--network=host", f"--stop-timeout={stopwaitsecs_sum(JOB_TIMEOUT) + 20}"]
        if self.volume:
            options.append(f"--volume={self.volume}:/data")
        docker("run", "--detach", *options, *(f"--env={k}={v}" for k, v in settings.items()), IMAGE)
        return self.wait_serving() if wait else self

    def wait_serving(self, timeout: float = 90) -> Container:
        def serving() -> bool:
            if self.inspect()["State"]["Status"] not in ("running", "created", "restarting"):
                raise AssertionError(f"{self.name} exited:\n{self.logs()}")
            return self.get("/ping")[0] == 200
        wait_until(serving, timeout, interval=0.2, message=f"{self.name} /ping")
        return self

    def inspect(self) -> dict[str, Any]:
        return json.loads(docker("inspect", self.name).stdout)[0]

    def logs(self) -> str:
        done = docker("logs", "--tail", "80", self.name, check=False)
        return (done.stdout + done.stderr)[-6000:]

    def exec(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return docker("exec", self.name, *command, timeout=timeout, check=False)

    def statuses(self) -> dict[str, str]:
        out = self.exec("supervisorctl", "status").stdout
        return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}

    def worker_names(self) -> set[str]:
        return {w["name"] for w in (self.get("/worker-status")[1] or {}).get("workers", [])}

    def analysis_workers(self) -> int:
        """Live analysis workers on the container's Redis (/worker-status `workers` lists the maintenance ones too)."""
        return int((self.get("/worker-status")[1] or {}).get("active_workers", 0))

    def wait_workers(self, count: int, timeout: float = 120) -> None:
        wait_until(lambda: self.analysis_workers() >= count, timeout, interval=0.2,
                   message=f"{count} live analysis workers on {self.name}")

    def plot(self, job_id: str, kind: str, params: dict[str, str]) -> tuple[int, bytes, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("GET", f"/job_status/{job_id}/plots/{kind}?{urlencode({**params, 'wait': '30'})}")
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("Content-Type") or ""
        finally:
            connection.close()

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.name, check=False)


def process_uids(container: Container) -> set[int]:
    """Every real, effective and saved uid of every process in the container (read from its /proc)."""
    probe = ("import pathlib\nfor p in pathlib.Path('/proc').glob('[0-9]*'):\n"
             "    try:\n        lines = (p / 'status').read_text().splitlines()\n"
             "    except OSError:\n        continue\n"
             "    print(*[u for l in lines if l.startswith('Uid:') for u in l.split()[1:4]])")
    done = container.exec("python", "-c", probe)
    assert done.returncode == 0, done.stderr
    return {int(uid) for uid in done.stdout.split()}


@pytest.fixture(scope="module")
def tag() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def single(tag: str) -> Iterator[Container]:
    """The container of the first tests, with a named volume for /data (removed at the end)."""
    volume = f"shap-image-test-{tag}"
    container = Container(f"shap-image-test-{tag}", volume=volume)
    try:
        yield container.run()
    finally:
        container.remove()
        docker("volume", "rm", "--force", volume, check=False)


@pytest.fixture(scope="module")
def analysis(single: Container) -> str:
    """A finished regression analysis of the look table, uploaded to the single container."""
    status, answer, _ = single.put(f"/datasets/look{look_table.UPLOAD_QUERY}", raw=look_table.csv_bytes(),
                                   headers={"Content-Type": "text/csv"})
    assert status == 201, answer
    job_id = single.analyze({"dataset": "look", "target": "Score"})
    answer = single.wait_job(job_id, timeout=180)
    assert answer["status"] == "finished" and answer["result"]["success"], answer
    return job_id


# Run in the image: what the final stage must not hold (docs/image.md, "What the image leaves out").
LEFT_OUT = """
import importlib.util, pathlib, sys
site = pathlib.Path(sys.prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")
found = [m for m in ("pip", "setuptools", "wheel", "plotly", "graphviz", "devtools", "tests")
         if importlib.util.find_spec(m)]
found += [str(p) for p in site.rglob("tests") if p.is_dir()]
found += [str(p) for p in pathlib.Path("/src").glob("*")]
print(sys.prefix, *found)
"""


def test_the_image_was_built_and_says_its_base() -> None:
    """The image under test exists, runs as its user and leaves out pip, plotly, graphviz, the harness and
    test suites; its base (python:3.12-slim, or the offline stand-in) and size are printed."""
    info = json.loads(docker("image", "inspect", IMAGE).stdout)[0]
    base = os.environ.get("SHAP_IMAGE_BASE", "?")
    print(f"\nimage {IMAGE}: {info['Size'] / 1e6:.0f} MB with its base {base}")
    assert info["Config"]["User"] == f"{IMAGE_USER}:{IMAGE_USER}"
    done = docker("run", "--rm", "--network=host", IMAGE, "python", "-c", LEFT_OUT)
    assert done.stdout.split() == ["/opt/venv"], done.stdout


def test_runs_as_its_user_with_every_program_running_and_healthy(single: Container) -> None:
    """Every process runs as the image's non-root user; `supervisorctl status` shows every program RUNNING."""
    single.wait_workers(2)
    wait_until(lambda: set(single.statuses()) == expected_programs()
               and set(single.statuses().values()) == {"RUNNING"}, 60, interval=0.5,
               message=f"every program RUNNING: {single.exec('supervisorctl', 'status').stdout}")
    assert process_uids(single) == {IMAGE_USER}
    assert single.exec("id", "-u").stdout.strip() == str(IMAGE_USER)


def test_analyses_draws_every_plot_kind_and_passes_shap_verify(single: Container, analysis: str) -> None:
    """An uploaded dataset analysed; every plot kind drawn by the workers (PNG, and SVG once); `shap-verify`
    inside the container exits 0."""
    for kind, params in PLOTS:
        status, body, content_type = single.plot(analysis, kind, params)
        assert status == 200 and content_type == "image/png" and body.startswith(PNG_MAGIC), (kind, body[:300])
    status, body, content_type = single.plot(analysis, "beeswarm", {"format": "svg"})
    assert status == 200 and content_type.startswith("image/svg+xml") and b"<svg" in body[:2000], body[:300]

    pairs_job = single.analyze({"dataset": "look", "target": "Score", "analysis_type": "interactions"})
    answer = single.wait_job(pairs_job, timeout=180)
    assert answer["status"] == "finished", answer
    pair = answer["result"]["interactions"]["pairs"][0]
    status, body, content_type = single.plot(pairs_job, "interaction", {"feature": pair["feature"],
                                                                        "with": pair["with"]})
    assert status == 200 and body.startswith(PNG_MAGIC), body[:300]

    done = single.exec("shap-verify", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_health_check_turns_healthy(single: Container) -> None:
    """Docker runs the Dockerfile's HEALTHCHECK (every 30 s) and reports the container healthy."""
    wait_until(lambda: single.inspect()["State"]["Health"]["Status"] == "healthy", 120, interval=1,
               message=f"healthy: {single.inspect()['State'].get('Health')}")


def test_kill_then_start_brings_fresh_workers_finishes_the_orphan_and_keeps_the_data(single: Container,
                                                                                      analysis: str) -> None:
    """`docker kill -s KILL` mid-job, `docker start`: workers under fresh names, the orphaned job requeued and
    finished within 2 x CLEANUP_INTERVAL + 90 s of the kill (the bound is for the requeue: the retraining fits
    in it too), the uploaded datasets still in the volume."""
    upload_fresh_dataset(single, "orphan", seed=11, rows=4000, default_target=None)
    before = single.worker_names()
    job_id = single.analyze({"dataset": "orphan", "target_variable": "Province"})  # trains a multiclass model
    wait_until(lambda: (single.get(f"/job_status/{job_id}")[1] or {}).get("status") == "started", 120,
               interval=0.05, message="the job to start")
    docker("kill", "--signal=KILL", single.name)
    killed = time.monotonic()
    assert single.inspect()["State"]["Status"] == "exited"
    docker("start", single.name)
    single.wait_serving()
    single.wait_workers(2)
    assert not before & single.worker_names(), f"names reused: {before & single.worker_names()}"
    answer = single.wait_job(job_id, timeout=ORPHAN_BOUND + 120)
    seconds = time.monotonic() - killed
    print(f"\ndocker kill -> orphaned job finished {seconds:.1f} s after the kill (bound {ORPHAN_BOUND} s)")
    assert answer["status"] == "finished" and answer["result"]["success"], answer
    assert seconds <= ORPHAN_BOUND, f"the orphaned job finished {seconds:.1f} s after the kill"
    ended = single.get(f"/job_status/{job_id}")[1]
    assert ended["status"] == "finished"
    status, listed, _ = single.get("/datasets")
    assert status == 200 and {"look", "orphan"} <= {d["name"] for d in listed["datasets"]}, listed
    assert single.get(f"/job_status/{analysis}")[1]["status"] == "finished"


def test_docker_stop_ends_within_the_shutdown_budget(single: Container) -> None:
    """`docker stop` (SIGTERM to supervisord) ends the container cleanly within the budget the entrypoint prints."""
    budget = stopwaitsecs_sum(JOB_TIMEOUT)
    assert f"shutdown budget {budget} s" in docker("logs", single.name).stdout
    started = time.monotonic()
    docker("stop", f"--time={budget + 20}", single.name, timeout=budget + 60)
    seconds = time.monotonic() - started
    print(f"\ndocker stop took {seconds:.1f} s (budget {budget} s)")
    assert seconds <= budget
    assert single.inspect()["State"]["ExitCode"] == 0, single.logs()


def test_two_containers_on_one_redis_both_serve_and_share_jobs(tag: str, tmp_path: Path) -> None:
    """Two containers (one analysis worker each) with REDIS_URL to one redis-server on loopback: both serve and
    see each other's workers; a job submitted to one while its own worker is stopped is run by the other's, and
    a job submitted to the other is visible from the first."""
    server = RedisServer(tmp_path / "redis").start()
    pair = [Container(f"shap-image-test-{tag}-{n}", env={"REDIS_URL": server.url, "WORKER_COUNT": "1"})
            for n in ("a", "b")]
    try:
        for container in pair:
            container.run(wait=False)
        for container in pair:
            container.wait_serving()
            container.wait_workers(2)
            statuses = container.statuses()
            assert statuses.pop("redis") == "STOPPED", statuses  # REDIS_URL: the embedded one is not started
            assert set(statuses.values()) == {"RUNNING"}, statuses
        idle, busy = pair
        assert idle.exec("supervisorctl", "stop", "worker:*").returncode == 0
        wait_until(lambda: busy.analysis_workers() == 1, 60, interval=0.2, message="only the other container's worker")
        job_id = idle.analyze({"dataset": "default", "target_variable": "Mortgage_Approvals", "sample_size": 150})
        answer = idle.wait_job(job_id, timeout=180)
        assert answer["status"] == "finished", answer
        worker = server.client().hget(f"rq:job:{job_id}", "worker_name")
        assert worker and worker.decode() in busy.worker_names(), worker
        other = busy.analyze({"dataset": "default", "target_variable": "Mortgage_Approvals", "sample_size": 160})
        assert busy.wait_job(other, timeout=180)["status"] == "finished"
        for container in pair:
            for job in (job_id, other):
                assert container.get(f"/job_status/{job}")[1]["status"] == "finished"
    finally:
        for container in pair:
            with contextlib.suppress(Exception):
                container.remove()
        server.stop()
