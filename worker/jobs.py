"""RQ job functions for analyses. The web enqueues them by dotted path (common.jobstates)."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from rq import get_current_job
from rq.job import Job

from common import datasets, default_dataset, keys
from common.jobstates import STAGES
from worker import context
from worker.analysis import analyze
from worker.models import get_or_train

log = logging.getLogger(__name__)


def report_progress(job: Job | None, stage: str) -> None:
    if job is None:
        return
    job.meta["progress"] = {"stage": stage, "percent": STAGES[stage]}
    job.save_meta()


def compute(request: dict[str, Any], job: Job | None = None) -> dict[str, Any]:
    """The whole analysis in this process; returns the result object (numpy arrays inside)."""
    ctx = context.current()
    settings = ctx.settings
    timings: dict[str, float] = {}
    started = time.perf_counter()

    report_progress(job, "loading_data")
    meta, frame = default_dataset.frame(ctx.redis, ctx.frames, request.get("dataset") or "default", settings)
    target = datasets.resolve_target(meta, request.get("target_variable"))
    features = datasets.feature_columns(meta, target)
    timings["dataset_load_s"] = time.perf_counter() - started

    report_progress(job, "loading_model")
    step = time.perf_counter()
    trained = get_or_train(ctx.redis, frame, meta["version"], target, features, settings.threads_per_job)
    timings["model_s"] = time.perf_counter() - step

    result = analyze(
        frame, meta, request, target, trained,
        thread_count=settings.threads_per_job,
        batch_size=settings.effective_shap_batch_size,
        max_rows=settings.max_rows,
        float_dtype="float32" if settings.aggressive_memory_management else "float64",
        progress=lambda stage: report_progress(job, stage),
    )
    result["timings"] = timings | result["timings"]
    return result


def encode(result: dict[str, Any]) -> bytes:
    """JSON bytes; orjson writes NaN and infinities as null, so the payload is always valid JSON."""
    return orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)


def run_analysis(request: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point: compute, encode once, store the bytes the web serves as they are."""
    job = get_current_job()
    started = time.perf_counter()
    result = compute(request, job)
    if job is not None and job.enqueued_at and job.started_at:
        result["timings"]["queue_wait_s"] = max(0.0, (job.started_at - job.enqueued_at).total_seconds())
    step = time.perf_counter()
    payload = encode(result)
    timings = result["timings"] | {"encode_s": time.perf_counter() - step}
    if job is None:
        return {"bytes": len(payload), "timings": timings}
    ctx = context.current()
    ctx.redis.set(keys.job_result(job.id), payload, ex=ctx.settings.result_ttl)
    timings["total_s"] = time.perf_counter() - started
    job.meta["timings"] = timings
    report_progress(job, "done")
    return {"result_key": keys.job_result(job.id), "bytes": len(payload)}
