"""Exceptions shared by web and worker. Each carries the HTTP status and machine code the API reports."""

from __future__ import annotations

from typing import Any


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


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class RedisUnavailable(ServiceError):
    status = 503
    code = "redis_unavailable"


class Conflict(ServiceError):
    """409: the request does not fit the current state of what it names."""

    status = 409
    code = "conflict"


class JobAlreadyEnded(Conflict):
    code = "job_already_ended"
