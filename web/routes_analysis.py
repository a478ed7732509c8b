"""POST /analyze and GET /job_status/<id>."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

import orjson
import redis
from flask import Blueprint, current_app, request, url_for
from flask.blueprints import BlueprintSetupState
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.utils import as_text

from common import jobstates, keys
from common.errors import InvalidRequest, NotFound, TooManyRows
from common.job_errors import describe_failure
from common.rqtypes import JSONJob
from web.responses import (
    gzip_chunks,
    json_chunks_response,
    json_response,
    json_stream_response,
    maybe_gzip,
)
from web.schemas import AnalyzeRequest
from web.services import ANSWER_CACHE_ENTRY_BYTES, Services, services

blueprint = Blueprint("analysis", __name__)

MAX_WAIT_SECONDS = 30.0
BLOCK_SLICE = 1.0  # seconds one blocking read of a job's results stream may last
POLL_PAUSE_MAX = 0.05  # longest pause between status reads of a long poll that does not block
SLICE_BYTES = ANSWER_CACHE_ENTRY_BYTES  # a larger stored answer is read from Redis and sent in slices
_ENDED = {jobstates.FINISHED: "done", jobstates.FAILED: "failed", jobstates.STOPPED: "stopped",
          jobstates.CANCELED: "canceled"}


@blueprint.record_once
def _set_up(state: BlueprintSetupState) -> None:
    pool = state.app.extensions["shap"].settings.redis_connection_pool_size
    state.app.extensions["shap-waiters"] = threading.BoundedSemaphore(max(1, pool // 2))


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


@dataclass(frozen=True)
class Snapshot:
    """The few fields of a job's hash a status answer shows, read with one HMGET: a poll of an
    unfinished job need not fetch and parse RQ's whole job hash (most of a poll's cost)."""

    id: str
    status: str
    meta: dict[str, Any]
    enqueued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None


_SNAPSHOT_FIELDS = ("status", "meta", "enqueued_at", "started_at", "ended_at")


def _snapshot(svc: Services, job_id: str) -> Snapshot:
    status, meta, *dates = svc.redis.hmget(JSONJob.key_for(job_id), _SNAPSHOT_FIELDS)
    if status is None:
        raise NotFound(f"No job with id {job_id!r}; it never existed or its result expired.")
    # RQ writes ISO 8601 with a Z (rq.utils.utcformat); fromisoformat reads it ~30x faster than strptime
    enqueued_at, started_at, ended_at = (datetime.fromisoformat(as_text(d)) if d else None for d in dates)
    return Snapshot(job_id, as_text(status), JSONSerializer.loads(meta) if meta else {},
                    enqueued_at, started_at, ended_at)


def _progress(job: Job | Snapshot, status: str) -> dict[str, Any]:
    progress = dict(job.meta.get("progress") or {"stage": "queued", "percent": 0})
    if status in _ENDED:
        progress = {"stage": _ENDED[status], "percent": 100}
    elif status in (jobstates.QUEUED, jobstates.SCHEDULED, jobstates.DEFERRED):
        progress = {"stage": status, "percent": 0}
    return progress


@dataclass
class Stored:
    """A stored value (a result, or a gzip answer) read in slices: the first with the job, the rest
    while the answer is sent, so the web never holds more than a slice of a large result."""

    key: str
    size: int
    first: bytes

    def chunks(self, client: redis.Redis) -> Iterator[bytes]:
        yield self.first
        offset = len(self.first)
        while offset < self.size:
            piece: Any = client.getrange(self.key, offset, offset + SLICE_BYTES - 1)
            if not piece:
                return  # expired while it was being sent: the client sees a short answer
            yield piece
            offset += len(piece)


def _fetch(svc: Services, job_id: str) -> Job:
    try:
        return JSONJob.fetch(job_id, connection=svc.redis)
    except NoSuchJobError:
        raise NotFound(f"No job with id {job_id!r}; it never existed or its result expired.") from None


def _stored(svc: Services, key: str) -> Stored | None:
    """The size and first slice of a stored value, in one round trip; None when it does not exist."""
    with svc.redis.pipeline(transaction=False) as pipe:
        pipe.strlen(key)
        pipe.getrange(key, 0, SLICE_BYTES - 1)
        size, first = pipe.execute()
    return Stored(key, size, first) if size else None


def _wait_for_end(svc: Services, job: Job, seconds: float) -> None:
    """Long-poll until the job ends or time is up.

    RQ writes a job's outcome to its results stream in the same transaction that marks it finished or
    failed, so a blocking XREAD on that stream wakes the moment the job ends. Each block lasts at most
    BLOCK_SLICE (below the socket timeout), after which the status is read again (stopped, canceled and
    requeued jobs write no result). A blocked read holds a pooled connection, so at most half the pool
    blocks at once; the other waiters poll."""
    deadline = time.monotonic() + seconds
    waiters: threading.BoundedSemaphore = current_app.extensions["shap-waiters"]
    if not waiters.acquire(blocking=False):
        _poll_until_end(job, deadline)
        return
    try:
        stream = Result.get_key(job.id)
        newest: Any = svc.redis.xrevrange(stream, "+", "-", count=1)  # before the status: no end is missed
        last: Any = newest[0][0] if newest else "0-0"
        block = min(BLOCK_SLICE, svc.settings.redis_timeout / 2)
        while job.get_status(refresh=True) not in jobstates.TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            reply: Any = svc.redis.xread({stream: last}, count=1, block=max(1, int(1000 * min(remaining, block))))
            if reply:  # a new result; read the status again (a retried job gets one and goes on)
                last = reply[0][1][-1][0]
    finally:
        waiters.release()


def _poll_until_end(job: Job, deadline: float) -> None:
    pause = 0.005
    while job.get_status(refresh=True) not in jobstates.TERMINAL and time.monotonic() < deadline:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 1.5, POLL_PAUSE_MAX)


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


def _envelope(job: Job | Snapshot, status: str) -> dict[str, Any]:
    return {
        "success": True, "job_id": job.id, "status": status, "progress": _progress(job, status),
        "enqueued_at": _iso(job.enqueued_at), "started_at": _iso(job.started_at), "ended_at": _iso(job.ended_at),
    }


def _expired(job: Job) -> NotFound:
    return NotFound(f"The result of job {job.id!r} has expired (RESULT_TTL).")


def _check_fields(fields: list[str], available: list[str]) -> None:
    unknown = [name for name in fields if name not in available]
    if unknown:
        raise InvalidRequest(f"fields names {unknown}, which the result does not have; its fields are "
                             f"{available}.", details={"unknown_fields": unknown})


def _result_fields(svc: Services, job: Job, fields: list[str]) -> bytes:
    """`{"name": value, ...}` of the asked fields in the result's own order, cut out of the stored
    result by the byte ranges the worker recorded (no decoding, no re-encoding)."""
    key = keys.job_result(job.id)
    index: dict[str, list[int]] | None = job.meta.get("result_index")
    if index is None:  # a result stored before results were indexed: decode it
        payload = svc.redis.get(key)
        if payload is None:
            raise _expired(job)
        result = orjson.loads(payload)
        _check_fields(fields, list(result))
        return orjson.dumps({name: value for name, value in result.items() if name in fields})
    _check_fields(fields, list(index))
    wanted = [name for name in index if name in fields]
    with svc.redis.pipeline(transaction=False) as pipe:
        for name in wanted:
            start, end = index[name]
            pipe.getrange(key, start, end - 1)
        values = pipe.execute()
    if not all(values):
        raise _expired(job)
    parts = [orjson.dumps(name) + b":" + value for name, value in zip(wanted, values, strict=True)]
    return b"{" + b",".join(parts) + b"}"


def _gzip_answer(svc: Services, job: Job, head: bytes) -> bytes:
    """Compress a finished job's whole answer once and keep it beside the result, for as long as it."""
    key = keys.job_result(job.id)
    stored = _stored(svc, key)
    if stored is None:
        raise _expired(job)
    compressed = gzip_chunks([head, *stored.chunks(svc.redis), b"}"])
    ttl_ms: Any = svc.redis.pttl(key)
    ttl_ms = ttl_ms if ttl_ms and ttl_ms > 0 else svc.settings.result_ttl * 1000
    svc.redis.set(keys.job_answer_gzip(job.id), compressed, px=ttl_ms, nx=True)
    return compressed


@blueprint.get("/job_status/<job_id>")
def job_status(job_id: str):
    svc = services()
    args = request.args if request.query_string else {}  # most polls have no query to parse
    wait = _wait_param(args)
    fields = _fields_param(args)
    gzip_ok = _accepts_gzip()
    variant = ("gzip" if gzip_ok else "identity") + (":" + ",".join(fields) if fields else "")
    answers = svc.answers
    cached = answers.get(job_id, variant)
    if cached is not None and (cached.final or not wait):
        if cached.tracked or svc.redis.exists(JSONJob.key_for(job_id), keys.job_result(job_id)) == 2:
            return json_chunks_response([cached.answer], gzipped=cached.gzipped)
        answers.discard(job_id)
    token = answers.token()
    snapshot = _snapshot(svc, job_id)
    if wait and snapshot.status not in jobstates.TERMINAL:
        _wait_for_end(svc, JSONJob(job_id, connection=svc.redis), wait)
        token = answers.token()
        snapshot = _snapshot(svc, job_id)
    status = snapshot.status
    if status not in (jobstates.FINISHED, jobstates.FAILED):
        chunks, gzipped = maybe_gzip([orjson.dumps(_envelope(snapshot, status))], gzip_ok)
        answers.put(job_id, variant, chunks[0], gzipped=gzipped, final=False, token=token)
        return json_chunks_response(chunks, gzipped=gzipped)
    job = _fetch(svc, job_id)  # the whole job: its error, or where its result's fields lie
    status = job.get_status(refresh=False)
    body = _envelope(job, status)
    if status == jobstates.FAILED:
        latest = job.latest_result()
        body["error"] = describe_failure(latest.exc_string if latest else job.exc_info)
    if status != jobstates.FINISHED:
        return json_chunks_response([orjson.dumps(body)], gzip_ok=gzip_ok)
    head = orjson.dumps(body)[:-1] + b',"result":'
    if fields:
        chunks, gzipped = maybe_gzip([b"".join([head, _result_fields(svc, job, fields), b"}"])], gzip_ok)
        _keep_final(svc, job_id, variant, chunks[0], gzipped, token)
        return json_chunks_response(chunks, gzipped=gzipped)
    stored = _stored(svc, keys.job_answer_gzip(job_id) if gzip_ok else keys.job_result(job_id))
    if gzip_ok and stored is None:
        answer = _gzip_answer(svc, job, head)
    elif stored is None:
        raise _expired(job)
    elif stored.size > len(stored.first):  # larger than a slice: streamed, never held whole
        if gzip_ok:
            return json_stream_response(stored.chunks(svc.redis), stored.size, gzipped=True)
        return json_stream_response(chain([head], stored.chunks(svc.redis), [b"}"]),
                                    len(head) + stored.size + 1)
    else:
        answer = stored.first if gzip_ok else b"".join([head, stored.first, b"}"])
    _keep_final(svc, job_id, variant, answer, gzip_ok, token)
    return json_chunks_response([answer], gzipped=gzip_ok)


def _keep_final(svc: Services, job_id: str, variant: str, answer: bytes, gzipped: bool, token: int) -> None:
    """Keep a finished job's answer until its job or result expires (a key past its TTL may linger
    in Redis a while before Redis deletes it and announces the change)."""
    with svc.redis.pipeline(transaction=False) as pipe:
        pipe.pttl(JSONJob.key_for(job_id))
        pipe.pttl(keys.job_result(job_id))
        ttls: list[int] = pipe.execute()
    if min(ttls) == -2:  # one of them is already gone
        return
    ends_at = time.monotonic() + min((ttl for ttl in ttls if ttl >= 0), default=math.inf) / 1000
    svc.answers.put(job_id, variant, answer, gzipped=gzipped, final=True, token=token, ends_at=ends_at)
