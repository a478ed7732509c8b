"""Unique worker names and the bounded retry when RQ still reports a collision (SPEC §3 step 3)."""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import time

import redis
from rq.worker import Worker

log = logging.getLogger(__name__)

NAME_ATTEMPTS = 5
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class NameCollision(RuntimeError):
    """Every attempted worker name was held by a live record."""


def unique_name(prefix: str = "shap-worker") -> str:
    """`<prefix>-<hostname>-<pid>-<epoch>-<8 hex>`: unique even when hostnames and PIDs repeat."""
    host = _UNSAFE.sub("-", socket.gethostname()) or "host"
    return f"{prefix}-{host}-{os.getpid()}-{int(time.time())}-{secrets.token_hex(4)}"


def name_is_free(client: redis.Redis, name: str) -> bool:
    """RQ's own rule in register_birth: a name is taken while its key exists without a death mark."""
    key = Worker.redis_worker_namespace_prefix + name
    return not client.exists(key) or bool(client.hexists(key, "death"))


def pick_name(client: redis.Redis, first: str | None = None, prefix: str = "shap-worker",
              attempts: int = NAME_ATTEMPTS, backoff: float = 0.2) -> str:
    """A free name: `first` if given and free, else fresh unique names, with backoff between attempts."""
    candidate = first or unique_name(prefix)
    for attempt in range(1, attempts + 1):
        if name_is_free(client, candidate):
            return candidate
        log.warning("worker name %s is held by a live record (attempt %d/%d); trying a fresh name",
                    candidate, attempt, attempts)
        time.sleep(backoff * 2 ** (attempt - 1))
        candidate = unique_name(prefix)
    raise NameCollision(f"no free worker name after {attempts} attempts")
