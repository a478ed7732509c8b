"""The clients one web process shares between its threads, created once by create_app."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from common.frame_cache import FrameCache
from common.redis_conn import web_redis
from common.rqtypes import JSONQueue
from common.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    queue: JSONQueue
    maintenance_queue: JSONQueue
    frames: FrameCache

    @classmethod
    def build(cls, settings: Settings) -> Services:
        client = web_redis(settings)
        return cls(
            settings=settings,
            redis=client,
            queue=JSONQueue(settings.queue_name, connection=client, default_timeout=settings.job_timeout),
            maintenance_queue=JSONQueue(settings.maintenance_queue_name, connection=client),
            frames=FrameCache(),
        )


def services() -> Services:
    return current_app.extensions["shap"]
