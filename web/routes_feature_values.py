"""GET /job_status/<id>/feature_values: the explained rows' feature values of a finished analysis, stored by
the worker beside the result (analysis.feature_values) and sent as stored."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from common import keys
from web.answers import expired
from web.finished_jobs import finished
from web.responses import json_chunks_response
from web.services import services

blueprint = Blueprint("feature_values", __name__)


@blueprint.get("/job_status/<job_id>/feature_values")
def feature_values(job_id: str) -> Response:
    """200 with the stored JSON; 404 for an unknown job or an expired result, 409 while it is unfinished."""
    svc = services()
    job = finished(svc, job_id)
    payload: Any = svc.redis.get(keys.job_feature_values(job.id))
    if payload is None:  # expired with the result, or a result stored before feature values were
        raise expired(job)
    gzip_ok = "Accept-Encoding" in request.headers and request.accept_encodings["gzip"] > 0
    return json_chunks_response([payload], gzip_ok=gzip_ok)
