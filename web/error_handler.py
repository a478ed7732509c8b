"""The one error handler: every error leaves as {"success": false, "error", "code"[, "details"]}."""

from __future__ import annotations

from typing import Any

import redis.exceptions
from flask import Flask, Response, current_app, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from common.errors import (
    InvalidRequest,
    RedisOutOfMemory,
    RedisUnavailable,
    ServiceError,
    TooManyRenders,
    UploadTooLarge,
    shown,
)
from common.redis_conn import REDIS_UNREACHABLE
from web.responses import json_response

RETRY_AFTER_SECONDS = 5


def error_body(error: ServiceError) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "error": error.message, "code": error.code}
    if error.details is not None:
        body["details"] = error.details
    return body


# pydantic messages that say what is wrong but not what to send instead
_WHAT_TO_SEND = {
    "int_parsing_size": "is too large; send a whole number of a sensible size (sample_size: at most MAX_ROWS)",
    "int_type": "must be a whole number written without a decimal point, exponent or quotes, e.g. 500 "
                "(sample_size: 1 to MAX_ROWS)",
    "int_from_float": "must be a whole number written without a decimal point, e.g. 500 (sample_size: 1 to "
                      "MAX_ROWS)",
}
MAX_PROBLEMS = 20  # a body with thousands of bad values is not answered with thousands of messages


def _from_validation(exc: ValidationError) -> InvalidRequest:
    problems = []
    for item in exc.errors(include_url=False, include_context=False, include_input=False)[:MAX_PROBLEMS]:
        where = shown(".".join(str(p) for p in item["loc"]) or "body", quoted=False)
        problems.append({"field": where, "problem": _WHAT_TO_SEND.get(item["type"], shown(item["msg"], quoted=False))})
    text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return InvalidRequest(f"The request body is invalid: {text}.", details=problems)


def _too_large() -> UploadTooLarge:
    """413 naming the setting, its value and the body's size."""
    limit = current_app.extensions["shap"].settings.max_upload_mb
    size = f" ({request.content_length:,} bytes)" if request.content_length else ""
    return UploadTooLarge(f"The request body{size} is larger than MAX_UPLOAD_MB ({limit:g} MiB) allows; send less "
                          "data, or raise MAX_UPLOAD_MB (a 100,000 x 134 CSV is about 85 MiB: MAX_UPLOAD_MB=100).",
                          details={"max_upload_mb": limit})


def _from_http(exc: HTTPException) -> ServiceError:
    if isinstance(exc, RequestEntityTooLarge):
        return _too_large()
    error = ServiceError(exc.description or exc.name)
    error.status = exc.code or 500
    error.code = exc.name.lower().replace(" ", "_")
    return error


def to_service_error(exc: Exception) -> ServiceError:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, ValidationError):
        return _from_validation(exc)
    if isinstance(exc, HTTPException):
        return _from_http(exc)
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return RedisOutOfMemory("Redis is out of memory (its maxmemory is reached), so nothing more can be stored; "
                                "delete datasets you no longer need (DELETE /datasets/<name>) or give Redis more "
                                "memory, then retry.")
    if isinstance(exc, REDIS_UNREACHABLE):
        return RedisUnavailable(f"Redis is unreachable ({exc.__class__.__name__}); retry in a few seconds.")
    raise exc


def error_response(error: ServiceError, extra: dict[str, Any] | None = None) -> Response:
    """The one error answer: the error body (with `extra` fields), its status, and Retry-After when
    Redis is unavailable or too many plot renders wait (the errors a client should simply retry)."""
    response = json_response(error_body(error) | (extra or {}), error.status)
    if isinstance(error, TooManyRenders):
        response.headers["Retry-After"] = str(error.retry_after)
    return retry_later(response) if isinstance(error, RedisUnavailable) else response


def retry_later(response: Response) -> Response:
    """Retry-After on a 503 whose cause (Redis unreachable) passes by itself: every such answer, the error
    body's and /health's, gets it here."""
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def register(app: Flask) -> None:
    def handle(exc: Exception) -> Response:
        return error_response(to_service_error(exc))

    for kind in (ServiceError, ValidationError, HTTPException, redis.exceptions.OutOfMemoryError, *REDIS_UNREACHABLE):
        app.register_error_handler(kind, handle)
