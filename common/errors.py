"""Exceptions shared by web and worker. Each carries the HTTP status and machine code the API reports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from common.escape import one_line

SHOWN_CHARS = 200  # an error message quotes at most this much of what the client sent


def shown(value: object, *, quoted: bool = True, limit: int = SHOWN_CHARS) -> str:
    """`value` as an error message quotes it (repr, or str when not `quoted`), cut to `limit` characters:
    a 1 MB filter must not come back as a 3 MB error body. Either way on one line, its control, format and
    line-separator characters escaped (repr escapes them; common.escape for str)."""
    if isinstance(value, str) and len(value) > limit:
        cut = repr(value[:limit]) if quoted else one_line(value[:limit])
        return f"{cut}... ({len(value) - limit} more characters)"
    text = repr(value) if quoted else one_line(str(value))
    return text if len(text) <= limit + 2 else f"{text[:limit]}... (cut)"


def case_hint(given: object, known: Iterable[str]) -> str:
    """" Did you mean 'Income'? ..." when `given` differs from a known name or value only in case (matching is
    case-sensitive everywhere), else ""."""
    return first_case_hint([given], known)


def first_case_hint(givens: Iterable[object], known: Iterable[str]) -> str:
    """case_hint of the first of `givens` that has one. The known names are folded once, so many givens
    (the keys of a client's `data` rows) cost one look-up each, not a pass over every column."""
    folded: dict[str, str] = {}
    for name in known:
        folded.setdefault(name.casefold(), name)
    match = next((folded[g.casefold()] for g in givens if isinstance(g, str) and g.casefold() in folded), None)
    return f" Did you mean {shown(match)}? Names and values are case-sensitive." if match is not None else ""


class ServiceError(Exception):
    """Base of every error the service reports on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(ServiceError):
    status = 400
    code = "invalid_request"


class InvalidFilter(InvalidRequest):
    code = "invalid_filter"


class EmptySelection(InvalidRequest):
    code = "empty_selection"


class TooManyRows(InvalidRequest):
    code = "too_many_rows"


class UnknownDataset(InvalidRequest):
    code = "unknown_dataset"


class UnknownColumn(InvalidRequest):
    code = "unknown_column"


class InvalidDataset(InvalidRequest):
    code = "invalid_dataset"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class NotAcceptable(ServiceError):
    """No format the client accepts (Accept, or format=) is one the route can answer in."""

    status = 406
    code = "not_acceptable"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    """403: a known key whose role may not do this (an analyst key on an admin route)."""

    status = 403
    code = "forbidden"


def result_gone(job_id: str) -> str:
    """Why a finished analysis's result is not there: the web and the render jobs say it alike."""
    return (f"The result of job {job_id!r} is no longer stored: RESULT_TTL passed, or its dataset was replaced "
            "or deleted; submit the analysis again.")


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Gone(NotFound):
    """What was asked for existed once and will not again (e.g. a form an earlier build never stored)."""

    code = "gone"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class UploadTooLarge(PayloadTooLarge):
    """A request body over MAX_UPLOAD_MB (an upload or an analysis)."""

    code = "upload_too_large"


class DatasetTooLarge(PayloadTooLarge):
    """413: the upload would decode to a table larger than MAX_DATASET_MB (checked before it is built)."""

    code = "dataset_too_large"


class TooManyRenders(ServiceError):
    """429: too many plot renders are queued (PLOT_QUEUE_PER_JOB for one analysis, PLOT_QUEUE_MAX in all);
    the answer carries Retry-After."""

    status = 429
    code = "too_many_renders"

    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class RedisUnavailable(ServiceError):
    status = 503
    code = "redis_unavailable"


class Conflict(ServiceError):
    """409: the request does not fit the current state of what it names."""

    status = 409
    code = "conflict"


class JobAlreadyEnded(Conflict):
    code = "job_already_ended"


class JobNotFinished(Conflict):
    """409: the job exists but has no result (yet): queued, running, failed, stopped or canceled."""

    code = "job_not_finished"


class PlotFailed(ServiceError):
    """500: a plot's render job failed (the message says how); asking again renders it again."""

    code = "plot_failed"


class CallbackNotAllowed(InvalidRequest):
    code = "callback_not_allowed"


class RedisOutOfMemory(ServiceError):
    """Redis refused a write for memory (maxmemory with noeviction): the store is full, not broken."""

    status = 507
    code = "insufficient_storage"
