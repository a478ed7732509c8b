"""GET /metrics of the whole service (supervisord: web, two workers, maintenance, scheduler, Redis): samples
of every process merged through the multiprocess directory under DATA_DIR, and Redis facts at scrape time."""

from __future__ import annotations

import re

import pytest

from devtools.http import http
from devtools.waiting import wait_until

pytestmark = pytest.mark.slow


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (labels matched as a subset)."""
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'([a-z_]+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_merge_the_web_and_the_workers_and_need_the_key(service_factory):
    """Requests by route, jobs by outcome, stage durations, queue depth, live workers, cleanup and cache."""
    key = {"X-API-KEY": "metrics-key"}
    service = service_factory("metrics", env={"API_KEY": "metrics-key", "CLEANUP_INTERVAL": "5"})
    finished = service.analyze({"data": [{"Income": 60000, "Age": 40}], "reuse": False}, headers=key)
    assert service.wait_job(finished, headers=key)["status"] == "finished"
    assert service.post("/analyze", {"target_variable": "Nope"}, headers=key)[0] == 400
    assert http("GET", service.base + "/metrics")[0] == 401
    status, text, headers = http("GET", service.base + "/metrics", headers=key)
    assert status == 200 and headers["Content-Type"].startswith("text/plain")

    def recorded() -> str | None:  # the worker parent records a job just after its horse has ended it
        scraped = http("GET", service.base + "/metrics", headers=key)[1]
        return scraped if 'shap_jobs_total{error_type="",outcome="finished"}' in scraped else None

    text = wait_until(recorded, 15, interval=0.2, message="the job's outcome in /metrics")
    assert sample(text, "shap_http_requests_total", route="/analyze", method="POST", status="202") >= 1
    assert sample(text, "shap_http_requests_total", route="/analyze", method="POST", status="400") >= 1
    assert sample(text, "shap_http_request_duration_seconds_count", route="/job_status/<job_id>", method="GET") >= 1
    assert sample(text, "shap_jobs_total", outcome="finished", error_type="") >= 1  # written by a worker
    assert sample(text, "shap_job_stage_duration_seconds_count", stage="shap") >= 1
    named = {"true": "training", "false": "loading_model"}  # the model stage says whether the job trained
    for trained, stage in named.items():
        if f'stage="{stage}",trained="{trained}"' in text:
            assert sample(text, "shap_job_stage_duration_seconds_count", stage=stage, trained=trained) >= 1
    assert any(f'stage="{stage}"' in text for stage in named.values())
    assert sample(text, "shap_queue_jobs", queue="shap-jobs", state="completed") >= 1
    assert sample(text, "shap_live_workers") >= 3  # two analysis workers and the maintenance worker
    assert sample(text, "shap_cleanup_actions_total", action="requeued") >= 0
    assert sample(text, "shap_cache_total", cache="answers", result="miss") >= 1
