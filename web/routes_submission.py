"""POST /analyze: validate the request completely, then enqueue it (nothing invalid is ever enqueued)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from flask import Blueprint, g, request, url_for
from rq import Retry
from rq.job import Dependency, Job

from analysis.request import AnalyzeRequest
from common import callbacks, jobstates, metrics
from common.errors import InvalidRequest, TooManyRows, UnsupportedMediaType, shown
from store import dataset_store, reuse
from web.responses import json_response
from web.services import Services, services

if TYPE_CHECKING:
    from analysis.plan import AnalysisPlan
    from analysis.selection import Selection  # pandas: imported on first use (see web.create_app)

blueprint = Blueprint("submission", __name__)
log = logging.getLogger(__name__)


def json_bytes() -> bytes:
    """The body, sent as application/json, which a page on another site cannot post without a CORS
    preflight (text/plain and form bodies are refused, so a browser cannot be made to submit analyses)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(f"Content-Type {shown(request.mimetype or 'none')} is not accepted; send the "
                                   "body as JSON with Content-Type: application/json.")
    return request.get_data(cache=False)


def json_body() -> Any:
    """The JSON body (json_bytes), parsed."""
    raw = json_bytes()
    if not raw.strip():
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None


def validated_request(svc: Services, body: Any) -> tuple[AnalysisPlan, str]:
    """Everything that can be checked before enqueueing is checked here, so nothing bad is enqueued.
    Returns the analysis plan (analysis.plan: target, task, features and rows decided once) and the version
    (with the labels: store.reuse.dataset_key) of the dataset it was checked against."""
    plan, meta, _ = checked_request(svc, body)
    return plan, reuse.dataset_key(meta)  # the version, and the labels the summary will use


def checked_request(svc: Services, body: Any) -> tuple[AnalysisPlan, dict[str, Any], Selection]:
    """validated_request's checks; the plan, the dataset's meta and the rows the analysis would explain
    (the cohorts' union for a comparison, INTERACTION_MAX_ROWS applied to interactions), which POST
    /filters/validate reports."""
    from analysis import datasets, plan  # pandas on first use: create_app
    from store import default_dataset

    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    parsed = AnalyzeRequest.model_validate(body)
    settings = svc.settings
    if parsed.sample_size is not None and parsed.sample_size > settings.max_rows:
        raise TooManyRows(f"sample_size {parsed.sample_size} is above the maximum of {settings.max_rows} (MAX_ROWS).")
    meta, frame = default_dataset.frame(svc.redis, svc.frames, datasets.check_name(parsed.dataset), settings)
    if parsed.callback_url is not None:
        callbacks.check_url(parsed.callback_url, settings)
    limits = plan.PlanLimits(settings.max_rows, settings.what_if_max_cells, settings.interaction_max_rows)
    made, explained = plan.make_plan(frame, meta, parsed, limits)
    return made, meta, explained


@blueprint.post("/analyze")
def analyze():
    svc = services()
    plan, dataset_version = validated_request(svc, json_body())
    analysis = plan.request
    settings = svc.settings
    digest = reuse.fingerprint(analysis, dataset_version, interaction_max_rows=settings.interaction_max_rows)
    if settings.result_reuse and analysis.reuse:
        found = reuse.finished_job_for(svc.redis, digest)
        metrics.count_cache("results", hit=found is not None)
        if found is not None:  # answered by the stored result of the identical analysis that ran first
            return json_response({"success": True, "job_id": found, "status": jobstates.FINISHED, "cached": True,
                                  "status_url": url_for("answers.job_status", job_id=found)}, 200)
    job = _enqueue_analysis(svc, plan, digest)
    log.info("queued analysis %s of %s on %s", job.id, analysis.target_variable, analysis.dataset)
    status_url = url_for("answers.job_status", job_id=job.id)
    if analysis.callback_url is not None:
        _enqueue_callback(svc, job, analysis.callback_url)
    return json_response({"success": True, "job_id": job.id, "status": jobstates.QUEUED, "cached": False,
                          "status_url": status_url}, 202)


def _enqueue_analysis(svc: Services, plan: AnalysisPlan, digest: str) -> Job:
    """Enqueue the analysis and note that it reads its dataset, in one MULTI (store.dataset_store)."""
    settings, analysis = svc.settings, plan.request
    with svc.redis.pipeline(transaction=True) as pipe:
        job = svc.queue.enqueue(
            jobstates.ANALYSIS_FUNC,
            kwargs={"plan": plan.model_dump()},  # JSON for RQ; the job validates it back (worker.jobs)
            job_timeout=settings.job_timeout,
            result_ttl=settings.result_ttl,
            failure_ttl=settings.failure_ttl,
            retry=Retry(max=settings.job_retries) if settings.job_retries else None,
            meta={"progress": {"stage": "queued", "percent": 0}, reuse.META_KEY: digest,
                  "request_id": g.request_id},
            description=f"analysis of {analysis.target_variable} on {analysis.dataset}",
            pipeline=pipe,
        )
        dataset_store.register_job(pipe, analysis.dataset, job.id, time.time())
        pipe.execute()
    return job


def _enqueue_callback(svc: Services, job: Job, url: str) -> None:
    """The callback is an RQ job on the callback queue (served by the maintenance worker) that RQ starts
    when the analysis ends, finished or failed (a dependency that allows failure): never the analysis's
    own work horse. RQ's Retry repeats a failed delivery with backoff."""
    settings = svc.settings
    retries = settings.callback_retries
    svc.callback_queue.enqueue(
        jobstates.CALLBACK_FUNC,
        kwargs={"job_id": job.id, "url": url,
                "status_url": url_for("answers.job_status", job_id=job.id, _external=True)},
        job_id=callbacks.notification_id(job.id),
        depends_on=Dependency(jobs=[job], allow_failure=True),
        job_timeout=int(settings.callback_timeout) + 10,
        retry=Retry(max=retries, interval=callbacks.retry_intervals(retries)) if retries else None,
        result_ttl=settings.result_ttl, failure_ttl=settings.failure_ttl,
        ttl=settings.failure_ttl,  # a notification whose analysis was stopped or canceled is never run
        description=f"callback of {job.id}",
    )
