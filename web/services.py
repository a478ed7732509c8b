"""The clients one web process shares between its threads, created once by create_app."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from common.redis_conn import web_redis
from common.rqtypes import JSONQueue
from common.settings import Settings
from store.frame_cache import FrameCache
from web.finished_answers import FinishedAnswers


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    queue: JSONQueue
    maintenance_queue: JSONQueue
    callback_queue: JSONQueue
    frames: FrameCache
    answers: FinishedAnswers

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """The clients."""
        client = web_redis(settings)
        return cls(
            settings=settings,
            redis=client,
            queue=JSONQueue(settings.queue_name, connection=client, default_timeout=settings.job_timeout),
            maintenance_queue=JSONQueue(settings.maintenance_queue_name, connection=client),
            callback_queue=JSONQueue(settings.callback_queue_name, connection=client),
            frames=FrameCache(),
            answers=FinishedAnswers(settings.finished_answers_mb * 2**20),
        )


def services() -> Services:
    return current_app.extensions["shap"]
