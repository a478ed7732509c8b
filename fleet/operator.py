"""The operator CLIs' Redis client: the service's own settings and a client whose calls end quickly."""

from __future__ import annotations

import os
import re
import sys

import redis

from common.redis_conn import REDIS_UNREACHABLE, web_redis
from common.settings import Settings, SettingsError


def redacted(url: str) -> str:
    """A Redis URL without its credentials, for messages."""
    return re.sub(r"//[^@/]*@", "//***@", url)


def operator_settings(program: str, redis_url: str | None = None) -> Settings:
    """The service's settings as the operator CLIs read them (REDIS_URL replaced by `redis_url` when given);
    exits 2 naming the bad variables when the configuration is invalid."""
    environ = dict(os.environ) | ({"REDIS_URL": redis_url} if redis_url else {})
    try:
        return Settings.from_env(environ)
    except SettingsError as exc:
        print(f"{program}: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def operator_client(url: str | None, program: str) -> tuple[redis.Redis, Settings]:
    """For the operator CLIs: the service's settings (REDIS_URL replaced by `url` when given) and a
    client whose every call ends within about REDIS_TIMEOUT. Exits 2 with a clear message when the
    configuration is invalid or Redis does not answer."""
    settings = operator_settings(program, url)
    client = web_redis(settings)
    try:
        client.ping()
    except REDIS_UNREACHABLE as exc:
        print(f"{program}: cannot reach Redis at {redacted(settings.effective_redis_url)}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return client, settings
