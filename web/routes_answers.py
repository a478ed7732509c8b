"""GET /job_status/<id>: a job's state, and once it finished its result, served from memory when an
unchanged answer is kept (web.job_cache), else from Redis (web.answers), optionally after a long poll."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain

import orjson
from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState
from rq.job import Job

from common import jobstates, keys, metrics
from common.errors import InvalidRequest
from common.job_errors import describe_failure
from common.rqtypes import JSONJob
from web import answers, long_poll
from web.responses import json_chunks_response, json_stream_response, maybe_gzip
from web.services import Services, services

blueprint = Blueprint("answers", __name__)

MAX_WAIT_SECONDS = 30.0


@blueprint.record_once
def _set_up(state: BlueprintSetupState) -> None:
    settings = state.app.extensions["shap"].settings
    long_poll.install(state.app.extensions, settings.redis_connection_pool_size, settings.effective_long_poll_limit)


def _wait_param(args: Mapping[str, str]) -> float:
    try:
        wait = float(args.get("wait", 0))
    except ValueError:
        raise InvalidRequest("wait must be a number of seconds between 0 and 30.") from None
    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise InvalidRequest("wait must be a number of seconds between 0 and 30.")
    return wait


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
    """What one status request asks for; `variant` names its answer among a job's kept answers."""

    job_id: str
    wait: float
    fields: list[str] | None
    gzip_ok: bool

    @classmethod
    def parse(cls, job_id: str) -> Ask:
        args = request.args if request.query_string else {}  # most polls have no query to parse
        return cls(job_id, _wait_param(args), _fields_param(args), _accepts_gzip())

    @property
    def variant(self) -> str:
        return ("gzip" if self.gzip_ok else "identity") + (":" + ",".join(self.fields) if self.fields else "")


@blueprint.get("/job_status/<job_id>")
def job_status(job_id: str) -> Response:
    svc = services()
    ask = Ask.parse(job_id)
    kept = _from_memory(svc, ask)
    if kept is not None:
        return kept
    token = svc.answers.token()
    snapshot = answers.snapshot(svc, job_id)
    waiting = ask.wait and snapshot.status not in jobstates.TERMINAL
    if waiting and long_poll.wait_if_a_thread_is_free(svc, JSONJob(job_id, connection=svc.redis), ask.wait):
        token = svc.answers.token()
        snapshot = answers.snapshot(svc, job_id)
    if snapshot.status not in (jobstates.FINISHED, jobstates.FAILED):
        chunks, gzipped = maybe_gzip([orjson.dumps(answers.envelope(snapshot, snapshot.status))], ask.gzip_ok)
        svc.answers.put(job_id, ask.variant, chunks[0], gzipped=gzipped, final=False, token=token)
        return json_chunks_response(chunks, gzipped=gzipped)
    return _ended(svc, ask, answers.fetch(svc, job_id), token)


def _from_memory(svc: Services, ask: Ask) -> Response | None:
    """The kept answer, when one is kept and may be served (a long poll waits unless it is final)."""
    cached = svc.answers.get(ask.job_id, ask.variant)
    if cached is None or not (cached.final or not ask.wait):
        metrics.count_cache("answers", hit=False)
        return None
    if cached.tracked or svc.redis.exists(JSONJob.key_for(ask.job_id), keys.job_result(ask.job_id)) == 2:
        metrics.count_cache("answers", hit=True)
        return json_chunks_response([cached.answer], gzipped=cached.gzipped)
    svc.answers.discard(ask.job_id)
    return None


def _ended(svc: Services, ask: Ask, job: Job, token: int) -> Response:
    """A failed job's answer with its error, or a finished job's with its result."""
    status = job.get_status(refresh=False)
    body = answers.envelope(job, status)
    if status == jobstates.FAILED:
        latest = job.latest_result()
        body["error"] = describe_failure(latest.exc_string if latest else job.exc_info)
    if status != jobstates.FINISHED:
        return json_chunks_response([orjson.dumps(body)], gzip_ok=ask.gzip_ok)
    head = orjson.dumps(body)[:-1] + b',"result":'
    if ask.fields:
        chunks, gzipped = maybe_gzip([b"".join([head, answers.result_fields(svc, job, ask.fields), b"}"])],
                                     ask.gzip_ok)
        answers.keep_final(svc, ask.job_id, ask.variant, chunks[0], gzipped, token)
        return json_chunks_response(chunks, gzipped=gzipped)
    return _whole_result(svc, ask, job, head, token)


def _whole_result(svc: Services, ask: Ask, job: Job, head: bytes, token: int) -> Response:
    """The envelope and the whole stored result: kept in memory when small, streamed from Redis when large."""
    stored = answers.stored(svc, keys.job_answer_gzip(ask.job_id) if ask.gzip_ok else keys.job_result(ask.job_id))
    if ask.gzip_ok and stored is None:
        answer = answers.gzip_answer(svc, job, head)
    elif stored is None:
        raise answers.expired(job)
    elif stored.size > len(stored.first):  # larger than a slice: streamed, never held whole
        if ask.gzip_ok:
            return json_stream_response(stored.chunks(svc.redis), stored.size, gzipped=True)
        return json_stream_response(chain([head], stored.chunks(svc.redis), [b"}"]),
                                    len(head) + stored.size + 1)
    else:
        answer = stored.first if ask.gzip_ok else b"".join([head, stored.first, b"}"])
    answers.keep_final(svc, ask.job_id, ask.variant, answer, ask.gzip_ok, token)
    return json_chunks_response([answer], gzipped=ask.gzip_ok)
