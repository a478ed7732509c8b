"""POST /analyze: check the request completely (web.request_checks), then enqueue it (nothing invalid is
ever enqueued); POST /filters/validate: the same checks without enqueueing, which the page calls as the
analyst types a filter."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import redis
from flask import Blueprint, Response, g, url_for
from rq import Retry
from rq.job import Dependency, Job

from common import callbacks, jobstates, keys, metrics
from common.errors import ServiceError, shown
from common.job_meta import JobMeta, Progress
from store import dataset_store, reuse
from web import storage_guard
from web.api_docs import Tag, documented
from web.request_checks import checked_request, json_body
from web.responses import json_response
from web.services import Services, services

if TYPE_CHECKING:
    from analysis.plan import AnalysisPlan  # pandas: imported on first use (see web.create_app)
    from analysis.request import AnalyzeRequest

blueprint = Blueprint("submission", __name__)
ENQUEUE_ATTEMPTS = 3  # checks of one request when its dataset is replaced between its check and its enqueue
log = logging.getLogger(__name__)


@blueprint.post("/analyze")
@documented(Tag.ANALYSIS, {202: "Accepted", 200: "Accepted"}, 401, 409, 413, 415, 503, 507, body="AnalyzeRequest")
def analyze() -> Response:
    """Submit an analysis: checked completely first (400 says what to change; nothing invalid is enqueued),
    then queued: 202 with the job id and where to poll it; 200 when an identical finished analysis answers it."""
    svc = services()
    body, settings = json_body(), svc.settings
    for _ in range(ENQUEUE_ATTEMPTS):
        checked = checked_request(svc, body)
        analysis = checked.analysis
        digest = reuse.fingerprint(analysis, checked.dataset_key, interaction_max_rows=settings.interaction_max_rows)
        if settings.result_reuse and analysis.reuse:
            found = reuse.finished_job_for(svc.redis, digest)
            metrics.count_cache("results", hit=found is not None)
            if found is not None:  # answered by the latest stored result of the identical analysis
                return json_response({"success": True, "job_id": found, "status": jobstates.FINISHED,
                                      "cached": True, "status_url": url_for("jobs.job_status", job_id=found)}, 200)
        storage_guard.check_room(svc, "a new analysis")
        job = _enqueue_analysis(svc, checked.plan, digest)
        if job is not None:
            return _queued(svc, analysis, job)
    raise DatasetChanging(f"Dataset {shown(analysis.dataset)} was replaced while this request was checked, "
                          f"{ENQUEUE_ATTEMPTS} times; send it again.")


def _queued(svc: Services, analysis: AnalyzeRequest, job: Job) -> Response:
    log.info("queued analysis %s of %s on %s", job.id, analysis.target_variable, analysis.dataset)
    status_url = url_for("jobs.job_status", job_id=job.id)
    if analysis.callback_url is not None:
        _enqueue_callback(svc, job, analysis.callback_url)
    return json_response({"success": True, "job_id": job.id, "status": jobstates.QUEUED, "cached": False,
                          "status_url": status_url}, 202)


@blueprint.post("/filters/validate")
@documented(Tag.ANALYSIS, {200: "FiltersChecked"}, 401, 413, 415, 503, body="AnalyzeRequest")
def validate_filters() -> Response:
    """POST /analyze's checks without enqueueing: the same 400 bodies, or 200 with the rows the filters select."""
    checked = checked_request(services(), json_body())  # the same code as POST /analyze's, so the same 400s
    analysis, chosen = checked.analysis, checked.explained
    return json_response({"success": True, "dataset": analysis.dataset, "dataset_version": checked.meta.version,
                          "target_variable": analysis.target_variable, "filters": analysis.demographic_filters,
                          "selected_rows": chosen.selected_rows, "explained_rows": len(chosen.frame),
                          "warnings": chosen.warnings})


def _enqueue_analysis(svc: Services, plan: AnalysisPlan, digest: str) -> Job | None:
    """Enqueue the analysis, note that it reads its dataset and pin the version it was checked against, in
    one MULTI (store.dataset_store) run only if the dataset still is that version (WATCH on its meta); None
    when it was replaced (or relabelled) meanwhile: the caller checks the request again on the new one."""
    settings, analysis = svc.settings, plan.request
    with svc.redis.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(keys.dataset_meta(analysis.dataset))
            if dataset_store.load_meta(pipe, analysis.dataset).version != plan.dataset_version:
                raise redis.WatchError
            pipe.multi()
            job = svc.queue.enqueue(
                jobstates.ANALYSIS_FUNC,
                kwargs={"plan": plan.model_dump()},  # JSON for RQ; the job validates it back (worker.jobs)
                job_timeout=settings.job_timeout, result_ttl=settings.result_ttl, failure_ttl=settings.failure_ttl,
                retry=Retry(max=settings.job_retries) if settings.job_retries else None,
                meta=JobMeta(progress=Progress(), fingerprint=digest, request_id=g.request_id).to_meta(),
                description=f"analysis of {analysis.target_variable} on {analysis.dataset}",
                pipeline=pipe,
            )
            dataset_store.register_job(pipe, analysis.dataset, job.id, time.time())
            dataset_store.pin(pipe, plan.dataset_version, job.id)
            pipe.execute()
        except redis.WatchError:
            return None
    return job


class DatasetChanging(ServiceError):
    status = 409
    code = "dataset_changing"


def _enqueue_callback(svc: Services, job: Job, url: str) -> None:
    """The callback is an RQ job on the callback queue (served by the maintenance worker) that RQ starts
    when the analysis ends, finished or failed (a dependency that allows failure): never the analysis's
    own work horse. RQ's Retry repeats a failed delivery with backoff."""
    settings = svc.settings
    retries = settings.callback_retries
    svc.callback_queue.enqueue(
        jobstates.CALLBACK_FUNC,
        kwargs={"job_id": job.id, "url": url,
                "status_url": url_for("jobs.job_status", job_id=job.id, _external=True)},
        job_id=callbacks.notification_id(job.id),
        depends_on=Dependency(jobs=[job], allow_failure=True),
        job_timeout=int(settings.callback_timeout) + 10,
        retry=Retry(max=retries, interval=callbacks.retry_intervals(retries)) if retries else None,
        result_ttl=settings.result_ttl, failure_ttl=settings.failure_ttl,
        ttl=settings.failure_ttl,  # a notification whose analysis was stopped or canceled is never run
        description=f"callback of {job.id}",
    )
