"""The start-up every worker program runs, in the order of docs/how-it-works.md, Worker start-up: connect,
clear stale records, bind a unique name, preload, freeze the heap, work."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from common import logs
from common.redis_conn import REDIS_UNREACHABLE, RETRY_ON, worker_redis
from common.settings import Settings, SettingsError
from fleet import liveness, naming
from worker.rq_worker import build_worker

log = logging.getLogger("worker.startup")

CONNECT_RETRIES = 12  # with the backoff below: about a minute before giving up


class StartupError(RuntimeError):
    """A worker cannot start; it exits non-zero so supervisord restarts it."""


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def connect(settings: Settings) -> redis.Redis:
    """A client whose first PING is retried with redis-py's backoff for a bounded time."""
    client = worker_redis(settings)
    patient = Retry(ExponentialBackoff(cap=8.0, base=0.25), CONNECT_RETRIES, supported_errors=RETRY_ON)
    started = time.monotonic()
    try:
        patient.call_with_retry(client.ping, lambda error: log.warning("Redis not reachable yet: %s", error))
    except REDIS_UNREACHABLE as exc:
        raise StartupError(f"cannot reach Redis at {settings.effective_redis_url} after "
                           f"{time.monotonic() - started:.0f}s: {exc}") from exc
    return client


def run(queue_names: list[str], *, prefix: str, preload: Callable[[redis.Redis, Settings], None],
        with_scheduler: bool = False) -> None:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format, prefix)
    try:
        client = connect(settings)
        removed = liveness.clear_stale(client)
        log.info("cleared %d stale worker records%s", len(removed),
                 "".join(f"; {v.name}: {v.reason}" for v in removed))
        name = naming.pick_name(client, first=settings.worker_name, prefix=prefix)
        preload(client, settings)
    except (StartupError, naming.NameCollision) as exc:
        log.error("worker cannot start: %s; exiting so supervisord restarts it", exc)
        raise SystemExit(1) from None
    except REDIS_UNREACHABLE as exc:
        log.error("worker cannot start, Redis failed during start-up: %s; exiting so supervisord restarts it", exc)
        raise SystemExit(1) from None
    gc.freeze()  # objects made so far stay shared with every forked work horse
    worker = build_worker(client, queue_names, name, prefix=prefix)
    log.info("worker %s ready on %s", name, ", ".join(queue_names))
    try:
        worker.work(logging_level=settings.log_level, max_jobs=None, with_scheduler=with_scheduler)
    except naming.NameCollision as exc:  # RQ still reported a collision at birth, on every attempt
        log.error("worker cannot start: %s; exiting so supervisord restarts it", exc)
        raise SystemExit(1) from None
