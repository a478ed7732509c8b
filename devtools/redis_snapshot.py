"""A whole Redis database as plain values, for "this changed nothing" checks."""

from __future__ import annotations

from typing import Any

import redis


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def snapshot(client: redis.Redis, skip: tuple[str, ...] = ()) -> dict[bytes, Any]:
    """Every key of a Redis database with its type and value (TTLs left out): for 'changes nothing' checks."""
    dump: dict[bytes, Any] = {}
    found: list[bytes] = list(client.scan_iter(count=1000))
    for key in sorted(found):
        if key.decode(errors="replace").startswith(skip):
            continue
        kind = as_text(client.type(key))
        if kind == "string":
            value: Any = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = client.xrange(key)
        else:
            value = None
        dump[key] = (kind, value)
    return dump
