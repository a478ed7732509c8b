"""Prometheus metrics, aggregated across the web process and every worker with prometheus_client's
multiprocess mode: each process writes its samples to files in DATA_DIR/metrics and GET /metrics merges
them. The entrypoint empties that directory and names it in PROMETHEUS_MULTIPROC_DIR for every program it
starts (prometheus_client reads it when first imported); a process started another way (a test's web app)
keeps its samples in memory and /metrics shows that process's own.

Only long-lived processes write samples (the web, and worker parents after each job they ran): a work horse
is a new process for every job, and each process leaves files behind, so a horse records nothing and its
parent records the job's outcome and stage timings from what the horse stored in Redis. Counts of things
that happen inside horses (cleanup actions) are kept in Redis and read when /metrics is scraped, with queue
depths and live workers."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
REQUEST_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# job timings (worker.jobs) -> the stage they measure; model_s is `training` when the job trained its model
STAGES = {"dataset_load_s": "loading_data", "model_s": "loading_model", "shap_s": "shap",
          "result_s": "building_result", "encode_s": "encoding", "store_s": "storing", "queue_wait_s": "queue_wait"}


def directory(data_dir: str) -> Path:
    return Path(data_dir) / "metrics"


def shared_directory() -> Path | None:
    """The directory every program of this service writes its samples to, when the entrypoint named one."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def reset(data_dir: str) -> Path:
    """Empty DATA_DIR/metrics of an earlier run's samples (the entrypoint, before any program starts)."""
    path = directory(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


@functools.cache
def _metrics() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    return {
        "requests": Counter("shap_http_requests_total", "HTTP requests by route, method and status",
                            ["route", "method", "status"]),
        "latency": Histogram("shap_http_request_duration_seconds", "HTTP request latency by route and method",
                             ["route", "method"], buckets=REQUEST_BUCKETS),
        "jobs": Counter("shap_jobs_total", "Analysis jobs ended, by outcome and error type", ["outcome", "error_type"]),
        "stages": Histogram("shap_job_stage_duration_seconds", "Seconds each stage of a finished analysis took "
                            "(training when the job trained its model)", ["stage", "trained"],
                            buckets=DURATION_BUCKETS),
        "cache": Counter("shap_cache_total", "Cache lookups by cache and result", ["cache", "result"]),
    }


# HTTP's methods; any other word a client sends is counted as "other", so no client can add label values
# (series, and sample files in the multiprocess directory) without end
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    found = _metrics()
    found["requests"].labels(route, method, str(status)).inc()
    found["latency"].labels(route, method).observe(seconds)


def observe_job(outcome: str, error_type: str, timings: dict[str, float], trained: bool) -> None:
    found = _metrics()
    found["jobs"].labels(outcome, error_type).inc()
    for key, stage in STAGES.items():
        if key in timings:
            named = "training" if key == "model_s" and trained else stage
            found["stages"].labels(named, "true" if trained else "false").observe(timings[key])


def count_cache(cache: str, hit: bool) -> None:
    _metrics()["cache"].labels(cache, "hit" if hit else "miss").inc()
