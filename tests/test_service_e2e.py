"""The whole product as `make run` starts it: supervisord, embedded Redis, web, workers, scheduler."""

from __future__ import annotations

import time

import numpy as np
import pytest

from common import default_dataset
from tests.support import Service, wait_until

PROGRAMS = {"redis", "web", "worker:worker-00", "worker:worker-01", "maintenance", "scheduler", "fatal_listener"}


def running_programs(service: Service) -> set[str]:
    lines = service.supervisorctl("status").stdout.splitlines()
    return {line.split()[0] for line in lines if " RUNNING " in f" {line} "}


@pytest.mark.slow
def test_make_run_serves_an_analysis_end_to_end(service_factory) -> None:
    """Start -> /ping within 2 s -> a filtered analysis finishes, additive, true drivers first."""
    service = service_factory("e2e", wait_for_workers=None)
    assert service.get("/ping")[0] == 200
    ping_after = time.monotonic() - service.started_at
    assert ping_after < 2.0, f"/ping answered only {ping_after:.2f}s after start"
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
