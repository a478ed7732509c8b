"""The plots of GET /job_status/<id>/plots/<kind> (web.job_routes). The web draws nothing (it never imports
shap or matplotlib): a render job on the plots queue (worker.plot_job) draws a plot once and stores the
image beside the result; the web serves the stored bytes, or 202 with the render job while it runs."""

from __future__ import annotations

from typing import Any

from flask import Response
from rq.exceptions import NoSuchJobError
from rq.job import Job

from analysis.plot_spec import FORMATS, PlotSpec
from common import jobstates, keys
from common.errors import InvalidRequest, NotFound, PlotFailed
from common.job_errors import describe_failure
from common.rqtypes import JSONJob, JSONQueue
from store import plot_queue
from web import long_poll, storage_guard
from web.services import Services

RENDER_RECORD_TTL = 600  # seconds a render job's record is kept; the image lives as long as the result
CACHE_CONTROL = "private, max-age=300"
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"  # an SVG opened directly runs nothing
_PENDING = frozenset({jobstates.QUEUED, jobstates.STARTED, jobstates.DEFERRED, jobstates.SCHEDULED})


def drawn(svc: Services, job_id: str, spec: PlotSpec, wait: float) -> bytes | Job:
    """The plot's image: stored, or drawn within `wait` seconds; else the render job drawing it."""
    image = _stored(svc, job_id, spec)
    if image is not None:
        return image
    storage_guard.check_room(svc, "drawing a new plot")
    render = _render_job(svc, job_id, spec)
    if wait and render.get_status(refresh=False) in _PENDING:
        long_poll.wait_if_a_thread_is_free(svc, render, wait)
    image = _outcome(svc, job_id, spec, render)
    return render if image is None else image


def _stored(svc: Services, job_id: str, spec: PlotSpec) -> bytes | None:
    image: Any = svc.redis.hget(keys.job_plots(job_id), spec.digest())
    return image


def image_response(image: bytes, spec: PlotSpec) -> Response:
    response = Response(image, mimetype=FORMATS[spec.format])
    response.headers["Cache-Control"] = CACHE_CONTROL
    if spec.format == "svg":
        response.headers["Content-Security-Policy"] = SVG_POLICY
    return response


def _render_job(svc: Services, job_id: str, spec: PlotSpec) -> Job:
    """The job drawing this plot: the one already queued or running (or ended, for its outcome), else a new
    one. Its id is the plot's, so requests for the same plot share it."""
    try:
        render = JSONJob.fetch(spec.render_job_id(job_id), connection=svc.redis)
    except NoSuchJobError:
        render = None
    if render is not None:
        status = render.get_status(refresh=False)
        ended_stored = status == jobstates.FINISHED and "stored" in (render.return_value() or {})
        if status in _PENDING or status == jobstates.FAILED or (status == jobstates.FINISHED and not ended_stored):
            return render  # running, or ended with an outcome to report (a refusal, a failure)
    settings = svc.settings
    plot_queue.admit(svc.redis, job_id, spec.render_job_id(job_id), per_job=settings.plot_queue_per_job,
                     most=settings.plot_queue_max, ttl=settings.job_timeout + RENDER_RECORD_TTL)  # else 429
    queue = JSONQueue(settings.plots_queue_name, connection=svc.redis)
    return queue.enqueue(jobstates.PLOT_FUNC, kwargs={"analysis_id": job_id, "spec": spec.to_json()},
                         job_id=spec.render_job_id(job_id), job_timeout=svc.settings.job_timeout,
                         result_ttl=RENDER_RECORD_TTL, failure_ttl=RENDER_RECORD_TTL,
                         description=f"{spec.kind} plot of analysis {job_id}")


def _outcome(svc: Services, job_id: str, spec: PlotSpec, render: Job) -> bytes | None:
    """The image once the render stored it; None while it runs. A refusal is a 400, a result gone meanwhile a
    404; a failure a 500, after which the failed job is removed so that asking again renders again."""
    status = render.get_status(refresh=True)
    if status == jobstates.FINISHED:
        outcome = render.return_value() or {}
        if "refused" in outcome:
            raise InvalidRequest(f"This plot cannot be drawn: {outcome['refused']}")
        if "gone" in outcome:
            raise NotFound(outcome["gone"])
        return _stored(svc, job_id, spec)
    if status == jobstates.FAILED:
        latest = render.latest_result()
        failure = describe_failure(latest.exc_string if latest else render.exc_info)
        render.delete()
        raise PlotFailed(f"Drawing the plot failed ({failure['type']}: {failure['message']}); ask again to retry.")
    return None
