"""Unique worker names and the bounded retry when RQ still reports a collision (docs/how-it-works.md, Worker start-up).

A name is picked before the heavy preload (`pick_name`, a cheap check) and bound atomically when the
worker registers its birth (`ShapWorker.register_birth`); both follow RQ's own rule for a taken name
and both retry with a fresh name, `NAME_ATTEMPTS` times in all with exponential backoff, then give up
with `NameCollision` so the process exits non-zero and supervisord's restart policy takes over.
"""

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
NAME_BACKOFF = 0.2  # seconds before the 2nd attempt; doubles each time (0.2 + 0.4 + 0.8 + 1.6 at most)
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


def next_attempt(taken: str, attempt: int, prefix: str, attempts: int = NAME_ATTEMPTS,
                 backoff: float = NAME_BACKOFF) -> str:
    """After `attempt` failed on name `taken`: log it, back off, and return a fresh name to try.

    Raises NameCollision when that was the last attempt.
    """
    if attempt >= attempts:
        log.error("worker name %s is taken and that was attempt %d/%d; giving up", taken, attempt, attempts)
        raise NameCollision(f"no free worker name after {attempts} attempts (last tried: {taken})")
    fresh = unique_name(prefix)
    log.warning("worker name %s is held by a live record (attempt %d/%d); trying %s", taken, attempt, attempts,
                fresh)
    time.sleep(backoff * 2 ** (attempt - 1))
    return fresh


def pick_name(client: redis.Redis, first: str | None = None, prefix: str = "shap-worker",
              attempts: int = NAME_ATTEMPTS, backoff: float = NAME_BACKOFF) -> str:
    """A free name: `first` if given and free, else fresh unique names, with backoff between attempts."""
    candidate = first or unique_name(prefix)
    for attempt in range(1, attempts + 1):
        if name_is_free(client, candidate):
            return candidate
        candidate = next_attempt(candidate, attempt, prefix, attempts, backoff)
    raise AssertionError("unreachable: next_attempt raises on the last attempt")
