"""What a worker process sets up once and every job it forks reuses: settings, Redis, parsed frames, and the
models its last jobs used (worker.kept_models)."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from common.redis_conn import worker_redis
from common.settings import Settings
from store.frame_cache import FrameCache
from worker.kept_models import KeptModels


@dataclass
class WorkerContext:
    settings: Settings
    redis: redis.Redis
    frames: FrameCache = field(default_factory=FrameCache)
    models: KeptModels = field(default_factory=KeptModels)


class _Holder:
    """The process's one context; a worker parent installs it before forking, jobs read it."""

    context: WorkerContext | None = None


def install(context: WorkerContext) -> None:
    _Holder.context = context


def current() -> WorkerContext:
    """The installed context, or one built from the environment (a job run outside `python -m worker`)."""
    if _Holder.context is None:
        settings = Settings.from_env()
        _Holder.context = WorkerContext(settings, worker_redis(settings))
    return _Holder.context
