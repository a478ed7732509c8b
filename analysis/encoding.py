"""The result's JSON: encoded once, in the worker, either whole (`encode`) or piece by piece (`encode_to`,
which also returns each top-level field's byte range so the web can answer `?fields=` by slicing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from analysis.explained import ResultRows, ShapColumns
from analysis.result import Result

OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _materialize(value: Any) -> Any:
    """orjson's hook for the result's lazy parts."""
    if isinstance(value, ResultRows):
        return value.to_list()
    if isinstance(value, ShapColumns):
        return value.to_dict()
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(result: Result) -> bytes:
    """JSON bytes; orjson writes NaN and infinities as null, so the payload is always valid JSON."""
    return orjson.dumps(dict(result.items()), default=_materialize, option=OPTIONS)


def _pieces(value: Any) -> Iterator[bytes | memoryview]:
    """The JSON of one value in pieces: result rows chunk by chunk, SHAP values column by column."""
    if isinstance(value, ResultRows):
        yield b"["
        first = True
        for chunk in value.chunks():
            body = orjson.dumps(chunk, option=OPTIONS)  # "[row,row,...]": its rows go in without brackets
            if len(body) > 2:
                if not first:
                    yield b","
                yield memoryview(body)[1:-1]
                first = False
        yield b"]"
    elif isinstance(value, ShapColumns):
        yield b"{"
        for position, (name, column) in enumerate(value.items()):
            yield (b"," if position else b"") + orjson.dumps(name) + b":"
            yield orjson.dumps(column, option=OPTIONS)  # apart: a column of 100,000 floats is ~2 MB to copy
        yield b"}"
    else:
        yield orjson.dumps(value, default=_materialize, option=OPTIONS)


def encode_to(result: Result, write: Callable[[bytes | memoryview], Any]) -> dict[str, list[int]]:
    """Write the same bytes as `encode`, piece by piece; return where each top-level field's value lies
    in them ([start, end)): the web answers `?fields=` with byte ranges of the stored result."""
    index: dict[str, list[int]] = {}
    offset = 0

    def put(piece: bytes | memoryview) -> None:
        nonlocal offset
        write(piece)
        offset += len(piece)

    put(b"{")
    for position, (name, value) in enumerate(result.items()):  # Result.items: the JSON's fields in order
        put((b"," if position else b"") + orjson.dumps(name) + b":")
        start = offset
        for piece in _pieces(value):
            put(piece)
        index[name] = [start, offset]
    put(b"}")
    return index
