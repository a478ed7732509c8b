"""Typed exceptions: each carries the HTTP status and the service's machine `code` of its one error body
`{"success": false, "error", "code"[, "details"]}`."""

from __future__ import annotations

from typing import Any


class ShapServiceError(Exception):
    """An error the service reported (or, for `ServiceUnavailable`, kept reporting through every retry)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"{self.message} ({where}, code {self.code})"


class InvalidRequest(ShapServiceError):
    """400: the request must change (the message says how); it is never retried."""


class Unauthorized(ShapServiceError):
    """401: missing or wrong API key."""


class NotFound(ShapServiceError):
    """404: no such job (or its result expired), dataset or route."""


class Conflict(ShapServiceError):
    """409: the operation does not fit the current state (e.g. cancelling a job that already ended)."""


class PayloadTooLarge(ShapServiceError):
    """413: the body is larger than the service's MAX_UPLOAD_MB."""


class ServiceUnavailable(ShapServiceError):
    """503 (Redis unreachable) or no connection, after every retry."""


class TooManyRequests(ShapServiceError):
    """429 (e.g. `too_many_renders`: PLOT_QUEUE_PER_JOB or PLOT_QUEUE_MAX plot renders already wait), after
    every retry: like a 503 it is retried after the service's Retry-After."""


class JobFailed(ShapServiceError):
    """The job ended `failed`; `code` is the service's error type (e.g. `WorkerDied`, `JobTimeout`)."""


class JobCanceled(ShapServiceError):
    """The job ended `canceled` or `stopped` and has no result."""


class WaitTimeout(ShapServiceError, TimeoutError):
    """`Job.wait(timeout)` ran out of time while the job was still running."""


_BY_STATUS: dict[int, type[ShapServiceError]] = {400: InvalidRequest, 401: Unauthorized, 404: NotFound,
                                                  409: Conflict, 413: PayloadTooLarge, 429: TooManyRequests,
                                                  503: ServiceUnavailable}
RETRIED = frozenset({429, 503})  # answers that pass by themselves: retried after Retry-After


def from_response(status: int, body: Any) -> ShapServiceError:
    """The exception for an error answer, from its one error body when it has one."""
    kind = _BY_STATUS.get(status, ShapServiceError)
    if isinstance(body, dict) and "error" in body:
        return kind(str(body["error"]), status=status, code=body.get("code"), details=body.get("details"))
    return kind(f"HTTP {status}: {str(body)[:200]}", status=status, code=None)
