"""What a /job_status answer is made of, read from Redis: the job's snapshot, its envelope, and its result:
an analysis's JSON written on demand from its stored rows table and head (store.result_store,
analysis.stored_result), only the `?fields=` asked for; a training job's small JSON result, or an analysis's
whole JSON as an earlier build stored it, served as stored bytes (whole, in slices, or cut to `?fields=`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis
from rq.exceptions import NoSuchJobError
from rq.job import JOB_ID_PATTERN, Job
from rq.serializers import JSONSerializer
from rq.utils import as_text

from analysis.stored_result import PER_ROW, ResultHead, json_pieces
from common import jobstates, keys, memory
from common.errors import Gone, InvalidRequest, NotFound, result_gone, shown
from common.job_meta import JobMeta
from common.rqtypes import JSONJob
from store import result_store
from web.services import Services

SLICE_BYTES = 8 * 2**20  # a larger stored JSON result (an earlier build's) is read from Redis and sent in slices
_ENDED = {jobstates.FINISHED: "done", jobstates.FAILED: "failed", jobstates.STOPPED: "stopped",
          jobstates.CANCELED: "canceled"}


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


_SNAPSHOT_FIELDS = ("status", "origin", "meta", "enqueued_at", "started_at", "ended_at")


def _no_such_job(job_id: str) -> NotFound:
    return NotFound(f"No analysis job with id {shown(job_id)}; it never existed or its result expired.")


def snapshot(svc: Services, job_id: str) -> Snapshot:
    status, origin, meta, *dates = svc.redis.hmget(JSONJob.key_for(job_id), _SNAPSHOT_FIELDS)
    if status is None or origin is None or as_text(origin) != svc.settings.queue_name:  # not the API's job
        raise _no_such_job(job_id)
    # RQ writes ISO 8601 with a Z (rq.utils.utcformat); fromisoformat reads it ~30x faster than strptime
    enqueued_at, started_at, ended_at = (datetime.fromisoformat(as_text(d)) if d else None for d in dates)
    return Snapshot(job_id, as_text(status), JSONSerializer.loads(meta) if meta else {},
                    enqueued_at, started_at, ended_at)


def fetch(svc: Services, job_id: str) -> Job:
    """The whole job: its error, or where its result's fields lie. An id RQ could never have made is
    unknown: RQ would refuse it (ValueError), and would read `<id>:<anything>` as the job `<id>`."""
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise _no_such_job(job_id)
    try:
        job = JSONJob.fetch(job_id, connection=svc.redis)
    except NoSuchJobError:
        raise _no_such_job(job_id) from None
    if job.origin != svc.settings.queue_name:  # only analyses are the public API's jobs
        raise _no_such_job(job_id)
    return job


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _progress(job: Job | Snapshot, status: str) -> dict[str, Any]:
    progress = JobMeta.model_validate(job.meta or {}).progress.model_dump(exclude_none=True)
    if status in _ENDED:
        progress = {"stage": _ENDED[status], "percent": 100}
    elif status in (jobstates.QUEUED, jobstates.SCHEDULED, jobstates.DEFERRED):
        progress = {"stage": status, "percent": 0}
    return progress


def envelope(job: Job | Snapshot, status: str) -> dict[str, Any]:
    return {
        "success": True, "job_id": job.id, "status": status, "progress": _progress(job, status),
        "enqueued_at": _iso(job.enqueued_at), "started_at": _iso(job.started_at), "ended_at": _iso(job.ended_at),
    }


def expired(job: Job) -> NotFound:
    return NotFound(result_gone(job.id))


def rows_gone(job: Job, result_kept: bool) -> NotFound:
    """No rows table: expired with the result, or the result was stored by a build before tables existed."""
    if not result_kept:
        return expired(job)
    return Gone(f"Job {job.id!r} was computed by an earlier version of the service, which stored no rows "
                    "table; its JSON result (GET /job_status/<id>) is served until it expires. Submit the analysis "
                    "again for /rows.")


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


def stored(svc: Services, key: str) -> Stored | None:
    """The size and first slice of a stored value, in one round trip; None when it does not exist."""
    with svc.redis.pipeline(transaction=False) as pipe:
        pipe.strlen(key)
        pipe.getrange(key, 0, SLICE_BYTES - 1)
        size, first = pipe.execute()
    return Stored(key, size, first) if size else None


UNKNOWN_FIELDS_SHOWN = 20  # names a 400 for ?fields= lists: a query string can carry thousands


def _check_fields(fields: list[str], available: list[str]) -> None:
    unknown = [name for name in fields if name not in available]
    if unknown:
        listed = [shown(name, quoted=False) for name in unknown[:UNKNOWN_FIELDS_SHOWN]]
        more = f" and {len(unknown) - len(listed)} more" if len(unknown) > len(listed) else ""
        raise InvalidRequest(f"fields names {listed}{more}, which the result does not have; its fields are "
                             f"{available}.", details={"unknown_fields": listed})


def result_fields(svc: Services, job: Job, fields: list[str]) -> bytes:
    """`{"name": value, ...}` of the asked fields of a result stored whole as JSON (a training job's, or an
    earlier build's analysis) in the result's own order, cut out of it by the byte ranges that build recorded."""
    key = keys.job_result(job.id)
    index = JobMeta.model_validate(job.meta or {}).result_index
    if index is None:  # a training job's small result, stored whole without an index (worker.jobs): decode it
        payload = svc.redis.get(key)
        if payload is None:
            raise expired(job)
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
        raise expired(job)
    parts = [orjson.dumps(name) + b":" + value for name, value in zip(wanted, values, strict=True)]
    return b"{" + b",".join(parts) + b"}"


def result_pieces(svc: Services, job: Job, head: ResultHead, fields: list[str] | None) -> Iterator[bytes]:
    """The JSON result (its `fields` only, when given) of an analysis whose stored head is `head`, as pieces
    to send while they are made. The rows table, and the dataset version its values are read from, are read
    first, so an expired or gone result is an error answer, not a cut one; neither is read when no per-row
    field is asked for."""
    if fields is not None:
        _check_fields(fields, head.fields)
    if fields is not None and not any(name in PER_ROW for name in fields):
        return json_pieces(head, None, None, fields)
    rows = result_store.per_row(svc.redis, svc.frames, job.id, head)  # compressed: a column decompressed at a time
    if rows is None:
        raise expired(job)
    return memory.released_after(json_pieces(head, rows, None, fields))


def small_fields(svc: Services, job: Job, fields: list[str]) -> dict[str, Any]:
    """Some fields of a finished analysis's result that are not per row (its head's), as JSON values."""
    head = result_store.head(svc.redis, job.id)
    if head is None:  # stored whole by an earlier build
        return orjson.loads(result_fields(svc, job, fields))
    _check_fields(fields, head.fields)
    return {name: head.parts[name] for name in head.small_fields() if name in fields}

