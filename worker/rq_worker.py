"""The RQ worker class every worker program runs, and the factory that configures it."""

from __future__ import annotations

import redis
from rq import worker_registration
from rq.serializers import JSONSerializer
from rq.worker import Worker

from common.errors import ServiceError
from common.rqtypes import JSONJob, JSONQueue
from worker.liveness import JOB_MONITORING_INTERVAL, WORKER_TTL

# Errors that say the request or its data cannot be explained, not that a worker died.
NON_RETRYABLE: tuple[type[BaseException], ...] = (ServiceError, ValueError, KeyError, TypeError)


class ShapWorker(Worker):
    """RQ's forking Worker that re-asserts its own registration on every heartbeat.

    If a Redis restart without persistence, or an operator, dropped the record, the next heartbeat
    puts it back, so /worker-status never loses a live worker for longer than one heartbeat.
    """

    def heartbeat(self, timeout=None, pipeline=None):
        connection = pipeline if pipeline is not None else self.connection.pipeline()
        super().heartbeat(timeout, pipeline=connection)
        if self.birth_date is not None:
            connection.hset(self.key, mapping=self.serialize())
        connection.hdel(self.key, "death")
        worker_registration.register(self, connection)
        if pipeline is None:
            connection.execute()


def build_worker(client: redis.Redis, queue_names: list[str], name: str) -> ShapWorker:
    queues = [JSONQueue(q, connection=client) for q in queue_names]
    return ShapWorker(
        queues,
        name=name,
        connection=client,
        serializer=JSONSerializer,
        job_class=JSONJob,
        queue_class=JSONQueue,
        worker_ttl=WORKER_TTL,
        job_monitoring_interval=JOB_MONITORING_INTERVAL,
        exception_handlers=[no_retry_for_bad_input],
    )


def no_retry_for_bad_input(job, exc_type, exc_value, traceback) -> bool:
    """RQ exception handler: a job that failed on its input would fail again, so it is not retried.

    Retries are for jobs whose worker died; RQ calls this handler before it decides to retry.
    """
    if issubclass(exc_type, NON_RETRYABLE):
        job.retries_left = 0
    return True
