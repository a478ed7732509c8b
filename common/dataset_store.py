"""Datasets in Redis: each one's metadata and CSV bytes under its name, replaced atomically, read together."""

from __future__ import annotations

import orjson
import redis

from common import keys
from common.errors import UnknownDataset

LOCK_TIMEOUT = 120  # seconds a (re)load of a dataset may hold its lock


def store(client: redis.Redis, meta: dict, data: bytes) -> None:
    """Replace a dataset atomically: readers see the old or the new version, never a mix."""
    with client.pipeline(transaction=True) as pipe:
        pipe.set(keys.dataset_data(meta["name"]), data)
        pipe.set(keys.dataset_meta(meta["name"]), orjson.dumps(meta))
        pipe.sadd(keys.DATASET_INDEX, meta["name"])
        pipe.execute()


def load_meta(client: redis.Redis, name: str) -> dict:
    raw = client.get(keys.dataset_meta(name))
    if raw is None:
        raise UnknownDataset(f"Dataset {name!r} does not exist; GET /datasets lists the available ones.")
    return orjson.loads(raw)


def load(client: redis.Redis, name: str) -> tuple[dict, bytes]:
    """The metadata and CSV bytes of one dataset, read together."""
    with client.pipeline(transaction=True) as pipe:
        pipe.get(keys.dataset_meta(name))
        pipe.get(keys.dataset_data(name))
        raw_meta, data = pipe.execute()
    if raw_meta is None or data is None:
        raise UnknownDataset(f"Dataset {name!r} does not exist; GET /datasets lists the available ones.")
    return orjson.loads(raw_meta), data


def list_all(client: redis.Redis) -> list[dict]:
    names = sorted(n.decode() if isinstance(n, bytes) else n for n in client.smembers(keys.DATASET_INDEX))
    if not names:
        return []
    raws = client.mget([keys.dataset_meta(n) for n in names])
    return [orjson.loads(raw) for raw in raws if raw is not None]
