"""RQ Job and Queue classes that always use RQ's JSON serializer.

rq-scheduler has no serializer option: handing it these classes makes the jobs it
creates JSON too, so no pickle is ever read back from Redis.
"""

from __future__ import annotations

from typing import Any

from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer


class JSONJob(Job):
    def __init__(self, id: str | None = None, connection: Any = None, serializer: Any = None) -> None:
        super().__init__(id, connection=connection, serializer=serializer or JSONSerializer)


class JSONQueue(Queue):
    job_class = JSONJob

    def __init__(self, name: str = "default", *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = kwargs.get("serializer") or JSONSerializer
        kwargs["job_class"] = kwargs.get("job_class") or JSONJob
        super().__init__(name, *args, **kwargs)
