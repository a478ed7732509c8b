"""The container without a Docker engine: scripts/entrypoint.py started exactly as the Dockerfile's CMD
starts it (the image's ENV, its WORKDIR, an unprivileged user), in a fresh DATA_DIR with the embedded Redis."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from devtools.environment import REPO, VENV_BIN
from devtools.http import free_port
from devtools.processes import session_pids
from devtools.service import Service
from devtools.waiting import wait_until
from tests.contract.test_deploy_contract import dockerfile, exec_form, stopwaitsecs_sum, supervisor_config

CONTAINER_USER = "shapci"  # created by .ci/run when it runs as root
JOB_TIMEOUT = 120  # as `docker run -e JOB_TIMEOUT=120`: keeps the shutdown budget (and this test's bound) short
SMOKE_CSV = "row_id,x1,x2,group,y\n" + "".join(
    f"r{i:03d},{i % 17},{(i * 7) % 11},{'abc'[i % 3]},{3 * (i % 17) - (i * 7) % 11 + (i % 3)}\n" for i in range(120))


@dataclass(frozen=True)
class RunAs:
    """Whom the smoke service runs as: `prefix` switches to that user; `reason` says why no switch was possible."""

    uid: int
    gid: int
    prefix: tuple[str, ...] = ()
    reason: str = ""


def _untraversable(path: Path, user: pwd.struct_passwd) -> str:
    """The first directory on the way to `path` that `user` may not enter, described."""
    groups = {user.pw_gid, *os.getgrouplist(user.pw_name, user.pw_gid)}
    for parent in reversed([path, *path.parents]):
        info = parent.stat()
        bit = stat.S_IXUSR if info.st_uid == user.pw_uid else stat.S_IXGRP if info.st_gid in groups else stat.S_IXOTH
        if parent.is_dir() and not info.st_mode & bit:
            return f"{parent} ({stat.filemode(info.st_mode)}, uid {info.st_uid}) is not traversable by {user.pw_name}"
    return ""


@cache
def container_user() -> RunAs:
    """The image runs as a numeric non-root user; here: ourselves when not root, else CONTAINER_USER via setpriv."""
    if os.geteuid() != 0:
        return RunAs(os.geteuid(), os.getegid())
    try:
        user = pwd.getpwnam(CONTAINER_USER)
    except KeyError:
        return RunAs(0, 0, reason=f"running as root and user {CONTAINER_USER} does not exist (.ci/run creates it)")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return RunAs(0, 0, reason="running as root and setpriv (util-linux) is not installed")
    prefix = (setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--")
    probe = subprocess.run([*prefix, str(VENV_BIN / "python"), "-c", "import catboost, supervisor, waitress"],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        interpreter = (VENV_BIN / "python").resolve()
        why = (_untraversable(interpreter, user) or _untraversable(REPO, user)
               or (probe.stderr.strip().splitlines() or ["no output"])[-1])
        return RunAs(0, 0, reason=f"{CONTAINER_USER} cannot run {VENV_BIN / 'python'} (-> {interpreter}): {why}")
    return RunAs(user.pw_uid, user.pw_gid, prefix)


def image_environment(data_dir: Path, port: int) -> dict[str, str]:
    """The container's whole environment: the base image's and the Dockerfile's ENV (this venv playing
    /opt/venv, HOME the user's home /data) and the `docker run -e` settings of this test."""
    env = {"LANG": "C.UTF-8", **dockerfile().env}
    env.update({"VIRTUAL_ENV": str(VENV_BIN.parent), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "HOME": str(data_dir), "DATA_DIR": str(data_dir), "PORT": str(port), "JOB_TIMEOUT": str(JOB_TIMEOUT),
                "WORKER_COUNT": "2", "THREADS_PER_JOB": "1", "LOG_LEVEL": "INFO"})
    return env


@dataclass
class ContainerService(Service):
    """Service started by the Dockerfile's CMD in WORKDIR (the repository plays /app) as the image's user."""

    run_as: RunAs = RunAs(0, 0)

    def environ(self) -> dict[str, str]:
        return image_environment(self.data_dir, self.port)

    def start(self, wait_for_workers: int | None = None) -> Service:
        command = exec_form(dockerfile().only("CMD").args)
        log = open(self.data_dir / "service.out", "ab")  # noqa: SIM115
        # The container's stdout belongs to its user (runc hands stdio to the USER), so supervisord can
        # reopen /dev/stdout for its programs' logs.
        os.fchown(log.fileno(), self.run_as.uid, self.run_as.gid)
        self.started_at = time.monotonic()
        self.process = subprocess.Popen([*self.run_as.prefix, *command], env=self.environ(), stdout=log,
                                        stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        wait_until(lambda: self.get("/ping")[0] == 200 if self.alive() else self._died(), 60, message="/ping")
        if wait_for_workers:
            self.wait_for_workers(wait_for_workers, timeout=180)
        return self

    def supervisorctl(self, *args: str) -> subprocess.CompletedProcess:
        """`docker exec … supervisorctl`: bare, as the image's user, with the container's environment only."""
        return subprocess.run([*self.run_as.prefix, "supervisorctl", *args], env=self.environ(), cwd=REPO,
                              capture_output=True, text=True, timeout=60)

    def health_check(self) -> subprocess.CompletedProcess:
        """The Dockerfile's HEALTHCHECK command, run as Docker runs it inside the container."""
        health = dockerfile().only("HEALTHCHECK").args
        command = exec_form(health[health.index("CMD") + len("CMD"):].strip())
        return subprocess.run([*self.run_as.prefix, *command], env=self.environ(), cwd=REPO, capture_output=True,
                              text=True, timeout=60)


def statuses(service: ContainerService) -> dict[str, str]:
    done = service.supervisorctl("status")
    return {line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if line.strip()}


def expected_programs() -> set[str]:
    config = supervisor_config()
    names: set[str] = set()
    for section in config.sections():
        kind, _, name = section.partition(":")
        if kind == "eventlistener":
            names.add(name)
        elif kind == "program" and "%(process_num)" in config.get(section, "process_name", fallback=""):
            names.update(f"{name}:{name}-{n:02d}" for n in range(2))  # WORKER_COUNT=2, image_environment
        elif kind == "program":
            names.add(name)
    return names


def process_uids(pids: list[int]) -> set[int]:
    uids: set[int] = set()
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        uids.update(int(uid) for line in lines if line.startswith("Uid:") for uid in line.split()[1:])
    return uids


@pytest.fixture
def fresh_data_dir() -> Iterator[Path]:
    """An empty DATA_DIR the image's user owns, outside pytest's root-only temp tree."""
    path = Path(tempfile.mkdtemp(prefix="shap-container-"))
    run_as = container_user()
    if run_as.prefix:
        os.chown(path, run_as.uid, run_as.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


PROBE = "import os, pathlib, sys; pathlib.Path(sys.argv[1], 'probe').write_text('x'); print(*os.getresuid())"


def test_smoke_runs_as_an_unprivileged_user(fresh_data_dir: Path) -> None:
    """A process started as the smoke service is (same prefix, same interpreter) has no root uid and can
    write the DATA_DIR it owns, as the image's USER does."""
    run_as = container_user()
    if run_as.reason:
        pytest.skip(f"smoke test runs as root instead: {run_as.reason}")
    done = subprocess.run([*run_as.prefix, str(VENV_BIN / "python"), "-c", PROBE, str(fresh_data_dir)], cwd=REPO,
                          env=image_environment(fresh_data_dir, free_port()), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert {int(uid) for uid in done.stdout.split()} == {run_as.uid}, done.stdout  # real, effective and saved
    assert run_as.uid != 0
    assert (fresh_data_dir / "probe").stat().st_uid == run_as.uid


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_container_serves_stops_within_budget_and_keeps_data_across_restart(fresh_data_dir: Path) -> None:
    """/ping and HEALTHCHECK answer, all programs RUNNING, SIGTERM within budget, a restart keeps jobs and datasets."""
    run_as = container_user()
    service = ContainerService(fresh_data_dir, port=free_port(), run_as=run_as)
    restarted = ContainerService(fresh_data_dir, port=free_port(), run_as=run_as)
    try:
        service.start(wait_for_workers=2)
        assert service.get("/ping")[1]["status"] == "ok"
        done = service.health_check()
        assert done.returncode == 0, done.stdout + done.stderr
        wait_until(lambda: set(statuses(service)) == expected_programs()
                   and set(statuses(service).values()) == {"RUNNING"}, 60, interval=1,
                   message=f"every program RUNNING in `supervisorctl status`: {service.supervisorctl('status').stdout}")
        assert service.process is not None
        assert process_uids(session_pids(service.process.pid)) == {run_as.uid}

        status, answer, _ = service.put("/datasets/smoke?id_columns=row_id&default_target=y", raw=SMOKE_CSV.encode(),
                                        headers={"Content-Type": "text/csv"})
        assert status == 201, answer
        job_id = service.analyze({"dataset": "smoke", "target_variable": "y"})
        finished = service.wait_job(job_id, timeout=300)
        assert finished["status"] == "finished", finished

        budget = stopwaitsecs_sum(JOB_TIMEOUT)
        computed = [line for line in service.output().splitlines() if "shutdown budget" in line]
        assert computed and f"shutdown budget {budget} s" in computed[-1], computed
        pid = service.process.pid
        seconds = service.stop(timeout=budget + 60)
        assert seconds <= budget, f"stopping took {seconds:.1f} s, the budget is {budget} s"
        assert service.process.returncode == 0, service.output()[-3000:]
        wait_until(lambda: not session_pids(pid), 30, message="every process of the container to exit")

        restarted.start(wait_for_workers=None)
        status, listed, _ = restarted.get("/datasets")
        assert status == 200 and "smoke" in {d["name"] for d in listed["datasets"]}, listed
        status, again, _ = restarted.get(f"/job_status/{job_id}")
        assert status == 200 and again["status"] == "finished" and again["result"]["success"], again
        assert restarted.stop(timeout=budget + 60) <= budget
    finally:
        for each in (service, restarted):
            if each.alive():
                each.kill()
