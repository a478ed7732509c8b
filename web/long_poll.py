"""`GET /job_status/<id>?wait=S`: wait until the job ends or S seconds pass, holding few connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import current_app
from rq.job import Job
from rq.results import Result

from common import jobstates
from common.errors import InvalidRequest
from web.services import Services

BLOCK_SLICE = 1.0  # seconds one blocking read of a job's results stream may last
POLL_PAUSE_MAX = 0.05  # longest pause between status reads of a long poll that does not block
WAITERS = "shap-waiters"  # app.extensions key of the semaphore bounding blocked long polls
POLLERS = "shap-long-polls"  # app.extensions key of the semaphore bounding long polls (LONG_POLL_LIMIT)
MAX_WAIT_SECONDS = 30.0  # the longest ?wait= of GET /job_status/<id> and of its plots


def wait_of(args: Mapping[str, str]) -> float:
    """The ?wait= seconds a request asks to long-poll (0: answer at once); a 400 unless 0 to MAX_WAIT_SECONDS."""
    try:
        wait = float(args.get("wait", 0))
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT_SECONDS:  # NaN fails too
        raise InvalidRequest(f"wait must be a number of seconds between 0 and {MAX_WAIT_SECONDS:g}.")
    return wait


def install(extensions: dict[str, Any], pool_size: int, long_poll_limit: int) -> None:
    """At most LONG_POLL_LIMIT (< WEB_THREADS) requests wait at once, so /ping and plain polls always find
    a thread; of those, at most half the web's Redis pool may block on Redis, the others poll."""
    extensions[WAITERS] = threading.BoundedSemaphore(max(1, pool_size // 2))
    extensions[POLLERS] = threading.BoundedSemaphore(long_poll_limit)


def wait_if_a_thread_is_free(svc: Services, job: Job, seconds: float) -> bool:
    """Long-poll (see wait_for_end) unless LONG_POLL_LIMIT requests already wait: then return False at
    once, and the caller answers the job's current state (a client simply polls again)."""
    pollers: threading.BoundedSemaphore = current_app.extensions[POLLERS]
    if not pollers.acquire(blocking=False):
        return False
    try:
        wait_for_end(svc, job, seconds)
    finally:
        pollers.release()
    return True


def wait_for_end(svc: Services, job: Job, seconds: float) -> None:
    """Long-poll until the job ends or time is up.

    RQ writes a job's outcome to its results stream in the same transaction that marks it finished or
    failed, so a blocking XREAD on that stream wakes the moment the job ends. Each block lasts at most
    BLOCK_SLICE (below the socket timeout), after which the status is read again (stopped, canceled and
    requeued jobs write no result). A blocked read holds a pooled connection, so at most half the pool
    blocks at once; the other waiters poll."""
    deadline = time.monotonic() + seconds
    waiters: threading.BoundedSemaphore = current_app.extensions[WAITERS]
    if not waiters.acquire(blocking=False):
        _poll_until_end(job, deadline)
        return
    try:
        _block_until_end(svc, job, deadline)
    finally:
        waiters.release()


def _block_until_end(svc: Services, job: Job, deadline: float) -> None:
    stream = Result.get_key(job.id)
    newest: Any = svc.redis.xrevrange(stream, "+", "-", count=1)  # before the status: no end is missed
    last: Any = newest[0][0] if newest else "0-0"
    block = min(BLOCK_SLICE, svc.settings.redis_timeout / 2)
    while job.get_status(refresh=True) not in jobstates.TERMINAL:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        reply: Any = svc.redis.xread({stream: last}, count=1, block=max(1, int(1000 * min(remaining, block))))
        if reply:  # a new result; read the status again (a retried job gets one and goes on)
            last = reply[0][1][-1][0]


def _poll_until_end(job: Job, deadline: float) -> None:
    pause = 0.005
    while job.get_status(refresh=True) not in jobstates.TERMINAL and time.monotonic() < deadline:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 1.5, POLL_PAUSE_MAX)
