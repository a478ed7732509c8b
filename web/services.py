"""The clients one web process shares between its threads, created once by create_app."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from common.redis_conn import web_redis
from common.rqtypes import JSONQueue
from common.settings import Settings
from store.frame_cache import FrameCache
from web.job_cache import InvalidationListener, JobCache

ANSWER_CACHE_BYTES = 32 * 2**20  # /job_status answers kept by each web process
ANSWER_CACHE_ENTRY_BYTES = 8 * 2**20  # larger answers are streamed from Redis every time


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    queue: JSONQueue
    maintenance_queue: JSONQueue
    callback_queue: JSONQueue
    frames: FrameCache
    answers: JobCache
    invalidations: InvalidationListener

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """The clients; the invalidation listener is built here and started by create_app."""
        client = web_redis(settings)
        answers = JobCache(ANSWER_CACHE_BYTES, ANSWER_CACHE_ENTRY_BYTES)
        return cls(
            settings=settings,
            redis=client,
            queue=JSONQueue(settings.queue_name, connection=client, default_timeout=settings.job_timeout),
            maintenance_queue=JSONQueue(settings.maintenance_queue_name, connection=client),
            callback_queue=JSONQueue(settings.callback_queue_name, connection=client),
            frames=FrameCache(),
            answers=answers,
            invalidations=InvalidationListener(settings, answers),
        )


def services() -> Services:
    return current_app.extensions["shap"]
