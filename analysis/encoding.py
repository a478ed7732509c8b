"""The result's JSON encoded from the in-memory result (`encode`: in-process use, tests and benchmarks). The
service no longer stores it: a finished analysis stores its rows table and head (analysis.stored_result), and the
web writes the same JSON from them on demand; `materialize` is the encoders' hook for the lazy parts."""

from __future__ import annotations

from typing import Any

import orjson

from analysis.explained import ResultRows, ShapColumns
from analysis.result import Result

OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def materialize(value: Any) -> Any:
    """orjson's hook for the result's lazy parts."""
    if isinstance(value, ResultRows):
        return value.to_list()
    if isinstance(value, ShapColumns):
        return value.to_dict()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(result: Result) -> bytes:
    """JSON bytes; orjson writes NaN and infinities as null, so the payload is always valid JSON."""
    return orjson.dumps(dict(result.items()), default=materialize, option=OPTIONS)
