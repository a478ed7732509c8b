"""The one error handler: every error leaves as {"success": false, "error", "code"[, "details"]}."""

from __future__ import annotations

from typing import Any

import redis.exceptions
from flask import Flask, Response
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from common.errors import InvalidRequest, PayloadTooLarge, RedisUnavailable, ServiceError
from web.responses import json_response

RETRY_AFTER_SECONDS = 5


def error_body(error: ServiceError) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "error": error.message, "code": error.code}
    if error.details is not None:
        body["details"] = error.details
    return body


def _from_validation(exc: ValidationError) -> InvalidRequest:
    problems = []
    for item in exc.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "body"
        problems.append({"field": where, "problem": item["msg"]})
    text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return InvalidRequest(f"The request body is invalid: {text}.", details=problems)


def _from_http(exc: HTTPException) -> ServiceError:
    if isinstance(exc, RequestEntityTooLarge):
        return PayloadTooLarge("The request body is larger than MAX_UPLOAD_MB allows; send less data.")
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
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return RedisUnavailable(f"Redis is unreachable ({exc.__class__.__name__}); retry in a few seconds.")
    raise exc


def register(app: Flask) -> None:
    def handle(exc: Exception) -> Response:
        error = to_service_error(exc)
        response = json_response(error_body(error), error.status)
        if isinstance(error, RedisUnavailable):
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for kind in (ServiceError, ValidationError, HTTPException, redis.exceptions.ConnectionError,
                 redis.exceptions.TimeoutError):
        app.register_error_handler(kind, handle)
