"""The whole product as `make run` starts it: supervisord, embedded Redis, web, workers, scheduler."""

from __future__ import annotations

import re
import time
from datetime import datetime

import numpy as np
import pytest

from devtools.service import Service
from devtools.waiting import wait_until
from store import default_dataset

PROGRAMS = {"redis", "web", "worker:worker-00", "worker:worker-01", "maintenance", "scheduler", "fatal_listener"}


def web_spawned_at(service: Service) -> float:
    """When supervisord spawned the web program, from its log (epoch seconds)."""
    log = (service.data_dir / "logs" / "supervisord.log").read_text()
    stamp = re.findall(r"^(\S+ \S+) INFO spawned: 'web'", log, flags=re.MULTILINE)[-1]
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def running_programs(service: Service) -> set[str]:
    lines = service.supervisorctl("status").stdout.splitlines()
    return {line.split()[0] for line in lines if " RUNNING " in f" {line} "}


@pytest.mark.slow
def test_make_run_serves_an_analysis_end_to_end(service_factory) -> None:
    """Start -> web answers /ping without waiting for the workers -> a filtered analysis finishes, additive,
    true drivers first."""
    service = service_factory("e2e", wait_for_workers=None)
    assert service.get("/ping")[0] == 200
    answered = time.time()
    ready_after = answered - web_spawned_at(service)
    print(f"\n/ping answered {ready_after:.2f}s after the web program started")
    # The promise is 2 s (docs/how-it-works.md, Processes), measured on a quiet machine by bench/cold_start.py.
    # Here the web starts beside three workers and the scheduler importing CatBoost on the same cores, under
    # whatever else the suite runs: 2 s failed once at load 9. This bound catches a web that waits for workers
    # or Redis work.
    assert ready_after < 10.0, f"/ping answered {ready_after:.2f}s after the web program started"
    service.wait_for_workers(2)

    job_id = service.analyze({"target_variable": "Mortgage_Approvals", "demographic_filters": ["Income > 50000"]})
    answer = service.wait_job(job_id)
    assert answer["status"] == "finished", answer
    result = answer["result"]
    matrix = np.array([result["shap_values"][f] for f in result["model"]["features"]])
    raw = np.array([row["raw_prediction"] for row in result["results"]])
    assert np.max(np.abs(result["base_value"] + matrix.sum(axis=0) - raw)) < 1e-6
    top = [item["feature"] for item in result["feature_importance"][:3]]
    assert top == default_dataset.TRUE_DRIVERS["Mortgage_Approvals"]
    wait_until(lambda: running_programs(service) == PROGRAMS, 30, interval=0.5, message="every program RUNNING")

    restarted = service.supervisorctl("restart", "worker:*")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    service.wait_for_workers(2)
    assert service.wait_job(service.analyze({"demographic_filters": ["low Age"]}))["status"] == "finished"


@pytest.mark.slow
def test_two_instances_run_side_by_side(service_factory, tmp_path) -> None:
    """Two instances with their own DATA_DIR and PORT share nothing and both serve analyses."""
    first = service_factory("one")
    second = service_factory("two")
    assert first.port != second.port
    for service in (first, second):
        assert (service.data_dir / "supervisor.sock").exists()
        assert (service.data_dir / "redis.sock").exists()
        assert service.wait_job(service.analyze({"data": [{"Income": 80000}]}))["status"] == "finished"
    names = [{w["name"] for w in s.get("/worker-status")[1]["workers"]} for s in (first, second)]
    assert names[0].isdisjoint(names[1])
    assert "worker:worker-00" in running_programs(first) and "worker:worker-00" in running_programs(second)
