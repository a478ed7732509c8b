"""How many plot renders may wait: PLOT_QUEUE_PER_JOB for one analysis, PLOT_QUEUE_MAX in all.

Each render the web enqueues (web.plot_renders) is first admitted here: its id goes into the analysis's set
and the set of all renders, atomically (one Lua script, so concurrent requests cannot both take the last
place), or the request is refused with TooManyRenders (429, Retry-After). A render leaves both sets when it
ends (worker.plot_job); one whose worker died, or whose record expired, is pruned at the next admission by
its RQ status. A request for a plot that is already being drawn shares that render and needs no place."""

from __future__ import annotations

import time
from typing import Any

import redis
from rq.job import Job

from common import jobstates, keys
from common.errors import TooManyRenders

RETRY_AFTER_JOB = 2  # seconds a client is asked to wait when its analysis has PLOT_QUEUE_PER_JOB renders
RETRY_AFTER_ALL = 5  # ... when PLOT_QUEUE_MAX renders wait in all
PENDING = frozenset({jobstates.QUEUED, jobstates.STARTED, jobstates.DEFERRED, jobstates.SCHEDULED})
ENQUEUE_GRACE = 30  # seconds an admitted render may go without an RQ record before its place is taken back
_FULL_JOB, _FULL_ALL = 1, 2

_ADMIT = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 2 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 0
"""


def _ended(client: redis.Redis, admitted: list[tuple[str, float]]) -> list[str]:
    """The renders among `admitted` (id, admission time) that are no longer queued or running: their RQ
    status says so, or their record is gone and they were admitted more than ENQUEUE_GRACE seconds ago (a
    render admitted a moment ago has no record until the web has enqueued it)."""
    if not admitted:
        return []
    with client.pipeline(transaction=False) as pipe:
        for render_id, _ in admitted:
            pipe.hget(Job.key_for(render_id), "status")
        statuses: list[Any] = pipe.execute()
    old = time.time() - ENQUEUE_GRACE
    ended = []
    for (render_id, since), status in zip(admitted, statuses, strict=True):
        if status is None:
            if since < old:
                ended.append(render_id)
        elif (status.decode() if isinstance(status, bytes) else str(status)) not in PENDING:
            ended.append(render_id)
    return ended


def _prune(client: redis.Redis, key: str) -> None:
    members: Any = client.zrange(key, 0, -1, withscores=True)
    ended = _ended(client, [(m.decode() if isinstance(m, bytes) else str(m), float(s)) for m, s in members])
    if ended:
        client.zrem(key, *ended)


def admit(client: redis.Redis, analysis_id: str, render_id: str, *, per_job: int, most: int, ttl: int) -> None:
    """Take a place for render `render_id` of analysis `analysis_id`, or raise TooManyRenders."""
    _prune(client, keys.plot_renders(analysis_id))
    if client.zcard(keys.PLOT_RENDERS) >= most:  # prune the large set only when it looks full
        _prune(client, keys.PLOT_RENDERS)
    outcome = client.eval(_ADMIT, 2, keys.plot_renders(analysis_id), keys.PLOT_RENDERS, render_id, per_job, most,
                          time.time(), ttl)
    if outcome == _FULL_JOB:
        raise TooManyRenders(f"{per_job} plots of this analysis are already being drawn (PLOT_QUEUE_PER_JOB); ask "
                             f"again in {RETRY_AFTER_JOB} s, when one of them is done.", retry_after=RETRY_AFTER_JOB,
                             details={"limit": per_job, "setting": "PLOT_QUEUE_PER_JOB"})
    if outcome == _FULL_ALL:
        raise TooManyRenders(f"{most} plots are already waiting to be drawn (PLOT_QUEUE_MAX); ask again in "
                             f"{RETRY_AFTER_ALL} s.", retry_after=RETRY_AFTER_ALL,
                             details={"limit": most, "setting": "PLOT_QUEUE_MAX"})


def release(client: redis.Redis, analysis_id: str, render_id: str) -> None:
    """Render `render_id` ended (drawn, refused, gone or failed): its place is free."""
    with client.pipeline(transaction=False) as pipe:
        pipe.zrem(keys.plot_renders(analysis_id), render_id)
        pipe.zrem(keys.PLOT_RENDERS, render_id)
        pipe.execute()
