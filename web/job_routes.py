"""Everything under /job_status/<id>:

- GET: a job's state, and once it finished its result, written from the stored rows table and head and sent
  as it is written (web.answers), or sent as this process kept it (web.finished_answers), optionally after a
  long poll (web.long_poll);
- DELETE: cancel the job if it waits, stop it if it runs (web.job_control);
- GET .../feature_values: the explained rows' feature values of a finished analysis, from its rows table (or
  the dataset version its rows are from);
- GET .../rows: the explained rows as one table (Arrow, CSV, Parquet or columnar JSON; web.rows_answer);
- GET .../plots/<kind>: a SHAP plot of a finished analysis (web.plot_params checks its query,
  web.plot_renders has a worker draw it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import orjson
from flask import Blueprint, Response, request, url_for
from flask.blueprints import BlueprintSetupState
from rq.exceptions import InvalidJobOperation
from rq.job import Job

from analysis import rows_table
from analysis.stored_result import PER_ROW
from common import jobstates, keys
from common.errors import InvalidRequest, JobAlreadyEnded
from common.job_errors import describe_failure
from common.rqtypes import JSONJob
from store import result_store
from web import answers, job_control, long_poll, plot_params, plot_renders, rows_answer
from web.api_docs import Tag, documented
from web.api_models import RowsQuery
from web.finished_jobs import finished
from web.responses import gzip_stream, json_chunks_response, json_generated_response, json_response
from web.services import Services, services

blueprint = Blueprint("jobs", __name__)


@blueprint.record_once
def _set_up(state: BlueprintSetupState) -> None:
    settings = state.app.extensions["shap"].settings
    long_poll.install(state.app.extensions, settings.redis_connection_pool_size, settings.effective_long_poll_limit)


def _fields_param(args: Mapping[str, str]) -> list[str] | None:
    raw = args.get("fields")
    if raw is None:
        return None
    fields = [name.strip() for name in raw.split(",") if name.strip()]
    if not fields:
        raise InvalidRequest("fields must name one or more result fields, comma-separated "
                             "(e.g. fields=summary,feature_importance).")
    return list(dict.fromkeys(fields))


def _accepts_gzip() -> bool:
    return "Accept-Encoding" in request.headers and request.accept_encodings["gzip"] > 0


@dataclass(frozen=True)
class Ask:
    """What one status request asks for."""

    job_id: str
    wait: float
    fields: list[str] | None
    gzip_ok: bool

    @classmethod
    def parse(cls, job_id: str) -> Ask:
        args = request.args if request.query_string else {}  # most polls have no query to parse
        return cls(job_id, long_poll.wait_of(args), _fields_param(args), _accepts_gzip())

    @property
    def variant(self) -> str:
        return "gzip" if self.gzip_ok else "identity"


@blueprint.get("/job_status/<job_id>")
@documented(Tag.ANALYSIS, {200: "JobStatus"}, 401, 404, 503, query="JobStatusQuery")
def job_status(job_id: str) -> Response:
    """A job's state, progress and times; its result when finished, its error when failed. ?wait=N long-polls
    (at most 30 s) until it ends; ?fields= returns only those result fields; gzip on Accept-Encoding."""
    svc = services()
    ask = Ask.parse(job_id)
    kept = _kept(svc, ask)
    if kept is not None:
        return kept
    snapshot = answers.snapshot(svc, job_id)
    waiting = ask.wait and snapshot.status not in jobstates.TERMINAL
    if waiting and long_poll.wait_if_a_thread_is_free(svc, JSONJob(job_id, connection=svc.redis), ask.wait):
        snapshot = answers.snapshot(svc, job_id)
    if snapshot.status not in (jobstates.FINISHED, jobstates.FAILED):
        return json_chunks_response([orjson.dumps(answers.envelope(snapshot, snapshot.status))], gzip_ok=ask.gzip_ok)
    return _ended(svc, ask, answers.fetch(svc, job_id))


def _kept(svc: Services, ask: Ask) -> Response | None:
    """The finished answer this process kept (web.finished_answers), while its job and result still exist."""
    found = None if ask.fields else svc.answers.get(ask.job_id, ask.variant)
    if found is None:
        return None
    if svc.redis.exists(JSONJob.key_for(ask.job_id), keys.job_result_head(ask.job_id)) != 2:
        svc.answers.discard(ask.job_id)
        return None
    return json_chunks_response([found], gzipped=ask.gzip_ok)


def _ended(svc: Services, ask: Ask, job: Job) -> Response:
    """A failed job's answer with its error, or a finished job's with its result."""
    status = job.get_status(refresh=False)
    body = answers.envelope(job, status)
    if status == jobstates.FAILED:
        latest = job.latest_result()
        body["error"] = describe_failure(latest.exc_string if latest else job.exc_info)
    if status != jobstates.FINISHED:
        return json_chunks_response([orjson.dumps(body)], gzip_ok=ask.gzip_ok)
    head = orjson.dumps(body)[:-1] + b',"result":'
    stored = result_store.head(svc.redis, job.id)
    if stored is None:  # a training job's result, or an analysis's JSON as an earlier build stored it
        return _stored_json(svc, ask, job, head)
    pieces = answers.result_pieces(svc, job, stored, ask.fields)
    if ask.fields and not any(name in PER_ROW for name in ask.fields):  # small: sent whole
        return json_chunks_response([b"".join([head, *pieces, b"}"])], gzip_ok=ask.gzip_ok)
    chunks: Iterable[bytes] = chain([head], pieces, [b"}"])
    chunks = gzip_stream(chunks) if ask.gzip_ok else chunks
    if not ask.fields:
        chunks = svc.answers.keeping(ask.job_id, ask.variant, chunks)
    return json_generated_response(chunks, gzipped=ask.gzip_ok)


def _stored_json(svc: Services, ask: Ask, job: Job, head: bytes) -> Response:
    """A result stored whole as JSON: streamed from Redis in slices when large, cut to ?fields= by its index."""
    if ask.fields:
        return json_chunks_response([b"".join([head, answers.result_fields(svc, job, ask.fields), b"}"])],
                                    gzip_ok=ask.gzip_ok)
    stored = answers.stored(svc, keys.job_result(ask.job_id))
    if stored is None:
        raise answers.expired(job)
    if stored.size > len(stored.first) or ask.gzip_ok:  # larger than a slice: streamed, never held whole
        chunks: Iterable[bytes] = chain([head], stored.chunks(svc.redis), [b"}"])
        return json_generated_response(gzip_stream(chunks) if ask.gzip_ok else chunks, gzipped=ask.gzip_ok)
    return json_chunks_response([head, stored.first, b"}"])


@blueprint.delete("/job_status/<job_id>")
@documented(Tag.ANALYSIS, {200: "JobStatus", 202: "JobStatus"}, 401, 404, 409, 503)
def cancel_job(job_id: str) -> Response:
    """Cancel a job: queued ends canceled, running is stopped (RQ's stop-job command) and ends stopped;
    202 while the stop is under way; 409 job_already_ended when it had finished or failed."""
    # 202 once job_control.STOP_WAIT_SECONDS passed without the work horse stopping
    svc = services()
    job = answers.fetch(svc, job_id)
    status = job_control.cancel_waiting(svc, job)
    if status == jobstates.STARTED:
        with contextlib.suppress(InvalidJobOperation):  # it ended meanwhile: the status read below tells how
            job_control.stop_running(svc, job_id)
        job_control.wait_terminal(svc, job_id)
    elif status != jobstates.CANCELED:
        raise JobAlreadyEnded(f"Job {job_id!r} has already ended ({status}); only a queued or running job "
                              "can be cancelled.", details={"status": status})
    ended = answers.snapshot(svc, job_id)
    if ended.status in (jobstates.CANCELED, jobstates.STOPPED):
        job_control.drop_callback(svc, job_id)
    if ended.status in (jobstates.FINISHED, jobstates.FAILED):
        raise JobAlreadyEnded(f"Job {job_id!r} ended ({ended.status}) before it could be stopped.",
                              details={"status": ended.status})
    return json_response(answers.envelope(ended, ended.status), 200 if ended.status in jobstates.TERMINAL else 202)


@blueprint.get("/job_status/<job_id>/feature_values")
@documented(Tag.ANALYSIS, {200: "FeatureValues"}, 401, 404, 409, 503)
def feature_values(job_id: str) -> Response:
    """The explained rows' feature values of a finished analysis, in the order of its results and shap_values
    (plots and pages pair them with the SHAP values); 404 unknown job, 409 job_not_finished."""
    svc = services()
    job = finished(svc, job_id)
    stored = stored_rows(svc, job)
    if stored is not None:
        return json_chunks_response([rows_table.feature_values_json(stored.with_values(), job.id)],
                                    gzip_ok=_accepts_gzip())
    payload: Any = svc.redis.get(keys.job_feature_values(job.id))  # stored apart by a build before the table
    if payload is None:  # expired with the result
        raise answers.expired(job)
    return json_chunks_response([payload], gzip_ok=_accepts_gzip())  # sent as stored


@blueprint.get("/job_status/<job_id>/rows")
@documented(Tag.ANALYSIS, {200: None}, 401, 404, 406, 409, 503, query="RowsQuery")
def rows(job_id: str) -> Response:
    """The explained rows of a finished analysis as one table, a row per explained row in the order of its
    results: row, id columns, target, prediction, raw_prediction, predicted_class, probability (or
    probability_<class>), shap_<feature>, value_<feature>. Arrow IPC stream by default; csv, parquet or json by
    Accept or format=; columns=, sort=/order=, sample=/seed=, offset=/limit= cut it."""
    query = RowsQuery.model_validate(request.args.to_dict())
    accept = {mime: quality for mime, quality in request.accept_mimetypes} if "Accept" in request.headers else None
    format_name = rows_answer.negotiate(query, accept)
    svc = services()
    job = finished(svc, job_id)
    stored = stored_rows(svc, job, by_batch=rows_answer.streamed(query, format_name))
    if stored is None:
        raise answers.rows_gone(job, svc.redis.exists(keys.job_result(job.id)) == 1)
    return rows_answer.answer(stored, query, format_name).response()


def stored_rows(svc: Services, job: Job, by_batch: bool = False) -> result_store.StoredRows | None:
    """The rows of a finished analysis (None: expired, or stored by a build before the rows table); `by_batch`:
    read a record batch at a time (store.result_store.StoredRows.batches)."""
    return result_store.any_rows(svc.redis, svc.frames, job.id, by_batch)


@blueprint.get("/job_status/<job_id>/plots/<kind>")
@documented(Tag.ANALYSIS, {200: None, 202: "PlotPending"}, 401, 404, 409, 429, 500, 503, 507, query="PlotQuery")
def plot(job_id: str, kind: str) -> Response:
    """A SHAP plot of a finished analysis, drawn by shap.plots with matplotlib in a worker: bar, beeswarm,
    waterfall (?row=), dependence (?feature=, ?color=), heatmap, interaction (?feature=, ?with=: a pair of an
    interactions analysis); PNG or SVG. 202 with the render job while it is drawn (poll status_url, or
    ?wait=N); the same plot asked again is served from the stored image. 429 too_many_renders, with
    Retry-After, when PLOT_QUEUE_PER_JOB renders of the analysis (or PLOT_QUEUE_MAX in all) already wait
    (store.plot_queue); a request for a plot already being drawn shares that render."""
    # 400 names a bad parameter; 404 for an unknown job or an expired result, 409 while it is unfinished
    svc = services()
    plot_params.names_of(request.args)
    kind, wait = plot_params.kind_of(kind), long_poll.wait_of(request.args)
    job = finished(svc, job_id)
    spec = plot_params.spec(plot_params.analysis(svc, job, kind), kind, request.args)
    drawn = plot_renders.drawn(svc, job.id, spec, wait)
    if isinstance(drawn, bytes):
        return plot_renders.image_response(drawn, spec)
    query: dict[str, Any] = {name: value for name, value in request.args.items() if name != "wait"}
    return json_response({"success": True, "job_id": drawn.id, "status": drawn.get_status(refresh=False),
                          "status_url": url_for("jobs.plot", job_id=job.id, kind=kind, **query)}, 202)
