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
    """Requests by route and status, jobs by outcome and error type, stage durations (training or loading,
    SHAP, encoding), every queue's depth, live workers, cleanup actions and cache hits."""
    key = {"X-API-KEY": "metrics-key"}
    service = service_factory("metrics", env={"API_KEY": "metrics-key", "CLEANUP_INTERVAL": "5"})
    analysis = {"data": [{"Income": 60000, "Age": 40}]}
    finished = service.analyze(analysis | {"reuse": False}, headers=key)
    assert service.wait_job(finished, headers=key)["status"] == "finished"
    assert service.analyze(analysis, headers=key) == finished  # answered by the stored result: a cache hit
    # x varies in the dataset (so the web accepts it) but is constant on the rows that have a target, the
    # rows CatBoost trains on: it refuses a constant only feature, and the job fails
    constant = "y,x\n" + "".join(f"{i % 5},1\n" if i < 50 else ",2\n" for i in range(60))
    assert service.put("/datasets/constfeature", raw=constant.encode(),
                       headers=key | {"Content-Type": "text/csv"})[0] == 201
    failed = service.analyze({"dataset": "constfeature", "target_variable": "y"}, headers=key)
    failure = service.wait_job(failed, headers=key)
    assert failure["status"] == "failed" and failure["error"]["type"], failure
    assert service.post("/analyze", {"target_variable": "Nope"}, headers=key)[0] == 400
    for verb in ("AAA1", "AAA2"):  # no key, a made-up method: counted, but as "other", not as new series
        assert http(verb, service.base + "/ping")[0] in (400, 401, 405, 501)
    assert http("GET", service.base + "/metrics")[0] == 401
    status, text, headers = http("GET", service.base + "/metrics", headers=key)
    assert status == 200 and headers["Content-Type"].startswith("text/plain")

    def recorded() -> str | None:  # the worker parent records a job just after its horse has ended it
        scraped = http("GET", service.base + "/metrics", headers=key)[1]
        return scraped if 'shap_jobs_total{error_type="",outcome="finished"}' in scraped \
            and 'outcome="failed"' in scraped else None

    text = wait_until(recorded, 15, interval=0.2, message="the job's outcome in /metrics")
    assert sample(text, "shap_http_requests_total", route="/analyze", method="POST", status="202") >= 1
    assert sample(text, "shap_http_requests_total", route="/analyze", method="POST", status="400") >= 1
    assert sample(text, "shap_http_request_duration_seconds_count", route="/job_status/<job_id>", method="GET") >= 1
    assert sample(text, "shap_jobs_total", outcome="finished", error_type="") >= 1  # written by a worker
    assert sample(text, "shap_jobs_total", outcome="failed", error_type=failure["error"]["type"]) >= 1
    for stage in ("shap", "encoding"):
        assert sample(text, "shap_job_stage_duration_seconds_count", stage=stage) >= 1
    named = {"true": "training", "false": "loading_model"}  # the model stage says whether the job trained
    for trained, stage in named.items():
        if f'stage="{stage}",trained="{trained}"' in text:
            assert sample(text, "shap_job_stage_duration_seconds_count", stage=stage, trained=trained) >= 1
    assert any(f'stage="{stage}"' in text for stage in named.values())
    assert sample(text, "shap_queue_jobs", queue="shap-jobs", state="completed") >= 1
    for queue in ("shap-jobs-maintenance", "shap-jobs-callbacks"):  # every queue's depth
        assert sample(text, "shap_queue_jobs", queue=queue, state="queued") >= 0
    assert sample(text, "shap_live_workers") >= 3  # two analysis workers and the maintenance worker
    assert sample(text, "shap_cleanup_actions_total", action="requeued") >= 0
    assert sample(text, "shap_cache_total", cache="results", result="hit") >= 1
    assert "AAA" not in text and sample(text, "shap_http_requests_total", method="other") >= 1
