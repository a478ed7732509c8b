"""POST /analyze and GET /job_status/<id>."""

from __future__ import annotations

import time
from typing import Any

import orjson
from flask import Blueprint, request, url_for
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from common import jobstates, keys
from common.errors import InvalidRequest, NotFound, TooManyRows
from common.job_errors import describe_failure
from common.rqtypes import JSONJob
from web.responses import json_response, raw_json_response
from web.schemas import AnalyzeRequest
from web.services import Services, services

blueprint = Blueprint("analysis", __name__)

MAX_WAIT_SECONDS = 30.0
_ENDED = {jobstates.FINISHED: "done", jobstates.FAILED: "failed", jobstates.STOPPED: "stopped",
          jobstates.CANCELED: "canceled"}


def json_body() -> Any:
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from None


def validated_request(svc: Services, body: Any) -> dict[str, Any]:
    """Everything that can be checked before enqueueing is checked here, so nothing bad is enqueued."""
    from common import datasets, default_dataset, selection  # pandas, on first use: see web.create_app

    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    parsed = AnalyzeRequest.model_validate(body)
    max_rows = svc.settings.max_rows
    if parsed.sample_size is not None and parsed.sample_size > max_rows:
        raise TooManyRows(f"sample_size {parsed.sample_size} is above the maximum of {max_rows} (MAX_ROWS).")
    meta, frame = default_dataset.frame(svc.redis, svc.frames, datasets.check_name(parsed.dataset), svc.settings)
    target = datasets.resolve_target(meta, parsed.target_variable)
    normalized = parsed.model_dump() | {"target_variable": target}
    selection.select_rows(frame, meta, normalized, max_rows)
    return normalized


@blueprint.post("/analyze")
def analyze():
    svc = services()
    normalized = validated_request(svc, json_body())
    settings = svc.settings
    job = svc.queue.enqueue(
        jobstates.ANALYSIS_FUNC,
        kwargs={"request": normalized},
        job_timeout=settings.job_timeout,
        result_ttl=settings.result_ttl,
        failure_ttl=settings.failure_ttl,
        retry=Retry(max=settings.job_retries) if settings.job_retries else None,
        meta={"progress": {"stage": "queued", "percent": 0}},
        description=f"analysis of {normalized['target_variable']} on {normalized['dataset']}",
    )
    status_url = url_for("analysis.job_status", job_id=job.id)
    return json_response({"success": True, "job_id": job.id, "status": jobstates.QUEUED,
                          "status_url": status_url}, 202)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _progress(job: Job, status: str) -> dict[str, Any]:
    progress = dict(job.meta.get("progress") or {"stage": "queued", "percent": 0})
    if status in _ENDED:
        progress = {"stage": _ENDED[status], "percent": 100}
    elif status in (jobstates.QUEUED, jobstates.SCHEDULED, jobstates.DEFERRED):
        progress = {"stage": status, "percent": 0}
    return progress


def _fetch(svc: Services, job_id: str) -> Job:
    try:
        return JSONJob.fetch(job_id, connection=svc.redis)
    except NoSuchJobError:
        raise NotFound(f"No job with id {job_id!r}; it never existed or its result expired.") from None


def _wait_for_end(svc: Services, job: Job, seconds: float) -> str:
    """Long-poll: re-read the status with a short, growing pause until the job ends or time is up."""
    deadline = time.monotonic() + seconds
    pause = 0.005
    status = job.get_status(refresh=False)
    while status not in jobstates.TERMINAL and time.monotonic() < deadline:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 1.5, 0.1)
        status = job.get_status(refresh=True)
    return status


@blueprint.get("/job_status/<job_id>")
def job_status(job_id: str):
    svc = services()
    try:
        wait = float(request.args.get("wait", 0))
    except ValueError:
        raise InvalidRequest("wait must be a number of seconds between 0 and 30.") from None
    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise InvalidRequest("wait must be a number of seconds between 0 and 30.")
    job = _fetch(svc, job_id)
    status: str = job.get_status(refresh=False)
    if wait and status not in jobstates.TERMINAL:
        status = _wait_for_end(svc, job, wait)
        job = _fetch(svc, job_id)
        status = job.get_status(refresh=False)
    body: dict[str, Any] = {
        "success": True, "job_id": job.id, "status": status, "progress": _progress(job, status),
        "enqueued_at": _iso(job.enqueued_at), "started_at": _iso(job.started_at), "ended_at": _iso(job.ended_at),
    }
    if status == jobstates.FAILED:
        latest = job.latest_result()
        body["error"] = describe_failure(latest.exc_string if latest else job.exc_info)
    if status == jobstates.FINISHED:
        payload = svc.redis.get(keys.job_result(job.id))
        if payload is None:
            raise NotFound(f"The result of job {job_id!r} has expired (RESULT_TTL).")
        return raw_json_response(orjson.dumps(body)[:-1] + b',"result":' + payload + b"}")  # type: ignore[operator]
    return json_response(body)
