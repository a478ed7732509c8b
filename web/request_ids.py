"""X-Request-ID: a client's id is kept (when it is a short plain token), otherwise one is made; it is
returned on every answer, added to the web's log lines, and stored on the jobs a request enqueues (their
log lines carry it too), so one id ties an HTTP request to everything it caused."""

from __future__ import annotations

import uuid

from flask import Response, g, has_request_context, request

from common import logs

HEADER = "X-Request-ID"


def assign() -> None:
    given = request.headers.get(HEADER)
    g.request_id = given if logs.valid_request_id(given) else uuid.uuid4().hex


def answer(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[HEADER] = request_id
    return response


def current() -> dict[str, str]:
    """The log context of the request being served (none outside a request)."""
    if has_request_context() and g.get("request_id"):
        return {"request_id": g.request_id}
    return {}
