"""JSON responses encoded with orjson (NaN and infinities become null)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                    mimetype="application/json")


def raw_json_response(payload: bytes, status: int = 200) -> Response:
    return Response(payload, status=status, mimetype="application/json")
