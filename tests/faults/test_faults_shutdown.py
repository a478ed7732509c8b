"""Graceful shutdown and the FATAL listener (docs: how-it-works.md Processes, deploy.md Shutdown budget): SIGTERM to
supervisord lets the running job finish and leaves queued jobs queued; a program that cannot stay up
stops supervisord."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from common.rqtypes import JSONJob, JSONQueue
from devtools.environment import REPO, VENV_BIN
from devtools.redis_server import RedisServer
from devtools.service import Service, running_worker, upload_fresh_dataset


@pytest.mark.slow
class TestGracefulShutdown:
    def test_sigterm_lets_the_running_job_finish_and_keeps_queued_jobs_queued(self, tmp_path):
        """RQ's warm shutdown under supervisord: the job in progress ends `finished`, the waiting ones stay
        `queued` in Redis, and the next start runs them; nothing accepted is lost."""
        server = RedisServer(tmp_path / "redis").start()
        client = server.client()
        env = {"REDIS_URL": server.url, "WORKER_COUNT": "1", "CLEANUP_INTERVAL": "5"}
        service = Service(tmp_path / "svc", env=env).start(wait_for_workers=1)
        try:
            upload_fresh_dataset(service, "shutdown", seed=11)
            running = service.analyze({"dataset": "shutdown", "target_variable": "Province"})
            running_worker(service, running)  # its horse is training a model for several seconds
            waiting = [service.analyze({"dataset": "shutdown", "sample_size": 20}) for _ in range(3)]

            seconds = service.stop(timeout=300)
            assert service.process is not None and service.process.returncode == 0

            assert JSONJob.fetch(running, connection=client).get_status() == "finished"
            assert [JSONJob.fetch(job, connection=client).get_status() for job in waiting] == ["queued"] * 3
            assert JSONQueue("shap-jobs", connection=client).job_ids == waiting
            print(f"\nSIGTERM: supervisord exited after {seconds:.1f}s, the running job finished, 3 queued jobs kept")

            service = Service(tmp_path / "svc", env=env).start(wait_for_workers=1)
            for job in waiting:
                assert service.wait_job(job, timeout=180)["status"] == "finished"
        finally:
            service.kill()
            server.stop()


LISTENER_CONFIG = """
[unix_http_server]
file={dir}/supervisor.sock

[supervisord]
nodaemon=true
logfile={dir}/supervisord.log
pidfile={dir}/supervisord.pid
childlogdir={dir}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{dir}/supervisor.sock

[program:steady]
command=sleep 600

[program:crasher]
command={python} -c "import sys; sys.exit(3)"
startsecs=1
startretries=2
autorestart=true

[eventlistener:fatal_listener]
command={python} {repo}/scripts/fatal_listener.py
events=PROCESS_STATE_FATAL
stderr_logfile={dir}/fatal_listener.err
"""


class TestFatalListener:
    @pytest.mark.slow
    def test_a_program_that_cannot_stay_up_stops_supervisord(self, tmp_path):
        """The crasher goes FATAL after its start retries; the listener then shuts supervisord down,
        steady programs included, so the platform restarts the whole container."""
        config = tmp_path / "supervisord.conf"
        config.write_text(LISTENER_CONFIG.format(dir=tmp_path, python=sys.executable, repo=REPO))
        started = time.monotonic()
        process = subprocess.Popen([str(VENV_BIN / "supervisord"), "-n", "-c", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
        log = (tmp_path / "supervisord.log").read_text()
        assert "crasher entered FATAL state" in log
        assert "stopped: steady" in log
        assert "crasher is FATAL; stopping supervisord" in (tmp_path / "fatal_listener.err").read_text()
        print(f"\nFATAL program -> supervisord stopped in {time.monotonic() - started:.1f}s")

    def test_the_service_config_runs_the_listener_for_fatal_events(self):
        """supervisord.conf wires scripts/fatal_listener.py to PROCESS_STATE_FATAL."""
        import configparser

        parser = configparser.RawConfigParser()
        parser.read(REPO / "supervisord.conf")
        section = parser["eventlistener:fatal_listener"]
        assert "scripts/fatal_listener.py" in section["command"]
        assert section["events"].strip() == "PROCESS_STATE_FATAL"

