"""The operator CLIs (the entry points shap-diagnose, shap-repair and shap-verify), run as processes
against a whole running service."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.rqtypes import JSONJob
from devtools.cli import run_cli
from devtools.environment import REPO, VENV_BIN
from devtools.http import free_port
from devtools.rq_state import job_hash, orphan_queued_job
from devtools.service import Service
from devtools.waiting import wait_until
from fleet.cli import verify


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the module; the scheduled cleanup runs at start, then not again during the tests."""
    running = Service(Path(tmp_path_factory.mktemp("cli")), env={"WORKER_COUNT": "1", "CLEANUP_INTERVAL": "3600"})
    running.start(wait_for_workers=1)
    yield running
    running.stop()


def cli(service: Service, name: str, *args: str, **kwargs) -> tuple[int, str]:
    done = run_cli(name, *args, env=service.environ(), **kwargs)
    return done.returncode, done.stdout + done.stderr


class TestHelp:
    @pytest.mark.parametrize("name", ["shap-diagnose", "shap-repair", "shap-verify"])
    def test_every_cli_explains_itself_with_help(self, name):
        """--help prints the usage and options and exits 0."""
        done = run_cli(name, "--help")
        assert done.returncode == 0 and "usage:" in done.stdout and "Exit status" in done.stdout

    def test_verify_defaults_to_the_services_own_port_and_key(self):
        """shap-verify's defaults are PORT and API_KEY as common.settings reads them (its default port too);
        an invalid PORT exits 2 naming it."""
        show = "from fleet.cli.verify import parse_args; args = parse_args([]); print(args.service_url, args.api_key)"
        for env, shown in (({}, "http://127.0.0.1:10000 None"), ({"PORT": "12345", "API_KEY": "k"},
                                                                 "http://127.0.0.1:12345 k")):
            done = subprocess.run([str(VENV_BIN / "python"), "-c", show], cwd=REPO, env=env, capture_output=True,
                                  text=True, timeout=60)
            assert (done.returncode, done.stdout.strip()) == (0, shown), done.stderr
        done = subprocess.run([str(VENV_BIN / "python"), "-c", show], cwd=REPO, env={"PORT": "0"},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "PORT" in done.stderr, done.stderr


@pytest.mark.slow  # the module's service runs supervisord
class TestHealthySystem:
    def test_diagnose_exits_0_and_lists_the_live_workers(self, service):
        """A healthy system: exit 0, every worker LIVE, no stuck job."""
        code, output = cli(service, "shap-diagnose")
        assert code == 0, output
        assert "Status: healthy" in output and "Stuck jobs: none" in output
        assert output.count("LIVE") == 2 and "STALE" not in output  # the analysis and the maintenance worker

    def test_repair_exits_0_and_changes_nothing(self, service):
        """A repair on a healthy system finds nothing to do."""
        code, output = cli(service, "shap-repair")
        assert code == 0, output
        assert "repair: requeued=0 failed=0 stopped=0 stale_workers_removed=0" in output

    def test_verify_passes_every_check_against_a_running_service(self, service):
        """Redis ping through the service, /health and one small analysis end to end: exit 0."""
        code, output = cli(service, "shap-verify", "--service-url", service.base)
        assert code == 0, output
        assert output.count("PASS") == 3 and "all checks passed" in output


@pytest.mark.slow
class TestBrokenSystem:
    def test_the_clis_report_and_repair_a_job_left_started_by_a_dead_worker(self, service):
        """diagnose prints the stuck job and exits 1; a dry run changes nothing; the repair requeues it;
        a worker then finishes it."""
        assert service.supervisorctl("stop", "worker:*").returncode == 0
        client = service.redis_client()
        job_id = service.analyze({"sample_size": 30})
        job, dead = orphan_queued_job(client, "shap-jobs")
        assert job.id == job_id

        code, output = cli(service, "shap-diagnose")
        assert code == 1, output
        assert job_id in output and dead in output and "no live analysis worker" in output
        assert "shap-repair" in output

        before = job_hash(client, job_id), client.zrange("rq:wip:shap-jobs", 0, -1)
        code, output = cli(service, "shap-repair", "--dry-run")
        assert code == 0 and job_id in output and "-> requeue" in output, output
        assert (job_hash(client, job_id), client.zrange("rq:wip:shap-jobs", 0, -1)) == before

        code, output = cli(service, "shap-repair", "--force")
        assert code == 0 and job_id in output and "-> queued" in output, output
        assert JSONJob.fetch(job_id, connection=client).get_status() == "queued"

        assert service.supervisorctl("start", "worker:*").returncode == 0
        assert service.wait_job(job_id, timeout=180)["status"] == "finished"
        wait_until(lambda: cli(service, "shap-diagnose")[0] == 0, 60, interval=1, message="a healthy diagnosis")

    def test_the_redis_clis_exit_2_when_redis_is_unreachable(self, service):
        """A Redis nobody listens on: a clear message and exit 2, within about REDIS_TIMEOUT."""
        url = f"redis://127.0.0.1:{free_port()}/0"
        for name in ("shap-diagnose", "shap-repair"):
            code, output = cli(service, name, "--url", url, timeout=60)
            assert code == 2 and "cannot reach Redis" in output, output

    def test_verify_fails_when_the_service_is_unreachable(self, service):
        """Every check fails and the exit status is 1."""
        code, output = cli(service, "shap-verify", "--service-url", f"http://127.0.0.1:{free_port()}")
        assert code == 1 and output.count("FAIL") == 3, output


def test_verify_names_a_target_when_the_default_dataset_has_none(web_only) -> None:
    """A `default` stored without default_target (an operator's file, a client's upload): the small analysis
    names its last column that is no id, so a healthy service passes (it failed with a 400)."""
    csv = b"site,x,y\n" + b"".join(b"s%d,%d,%d\n" % (i, i, i % 7) for i in range(30))
    status, _, _ = web_only.request("PUT", "/datasets/default?id_columns=site", raw=csv,
                                    headers={"Content-Type": "text/csv"})
    assert status in (200, 201)
    client = verify.Client(web_only.base, None)
    assert verify.small_analysis(client) == {**verify.SMALL_ANALYSIS, "target_variable": "y"}
    status, _, _ = web_only.request("PUT", "/datasets/default?id_columns=site&default_target=y", raw=csv,
                                    headers={"Content-Type": "text/csv"})
    assert status == 200 and verify.small_analysis(client) == verify.SMALL_ANALYSIS
