"""Redis clients, built in one place with redis-py's own retry, backoff and health checks."""

from __future__ import annotations

import socket

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

from common.settings import Settings

# The one answer to "is Redis unreachable?": what redis-py raises to its callers when Redis cannot be
# reached or does not answer in time (BusyLoadingError, a Redis still loading its data, is a ConnectionError).
REDIS_UNREACHABLE: tuple[type[Exception], ...] = (ConnectionError, TimeoutError)
# Errors after which redis-py retries on a fresh connection: the above, and the raw socket timeout its
# connect sees before it wraps it in TimeoutError.
RETRY_ON: tuple[type[Exception], ...] = (*REDIS_UNREACHABLE, socket.timeout)


def _common_kwargs(settings: Settings, *, retries: int, cap: float) -> dict:
    kwargs: dict = {
        "retry": Retry(ExponentialBackoff(cap=cap, base=0.05), retries, supported_errors=RETRY_ON),
        "health_check_interval": settings.redis_health_check_interval,
        "socket_connect_timeout": settings.redis_timeout,
    }
    if not settings.effective_redis_url.startswith("unix://"):
        kwargs["socket_keepalive"] = settings.redis_socket_keepalive
    return kwargs


def web_redis(settings: Settings) -> redis.Redis:
    """The web process's client: a bounded, blocking pool; every call ends within about REDIS_TIMEOUT."""
    kwargs = _common_kwargs(settings, retries=1, cap=0.25)
    # Two attempts share the budget so an unreachable Redis costs about REDIS_TIMEOUT, never more.
    kwargs["socket_connect_timeout"] = settings.redis_timeout / 2
    pool = redis.BlockingConnectionPool.from_url(
        settings.effective_redis_url,
        max_connections=settings.redis_connection_pool_size,
        timeout=settings.redis_timeout,
        socket_timeout=settings.redis_timeout,
        **kwargs,
    )
    return redis.Redis(connection_pool=pool)


def worker_redis(settings: Settings) -> redis.Redis:
    """A worker's client: RQ raises its socket timeout above its blocking dequeue on its own."""
    kwargs = _common_kwargs(settings, retries=5, cap=2.0)
    return redis.Redis.from_url(settings.effective_redis_url, **kwargs)
