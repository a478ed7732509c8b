"""Which RQ worker records belong to live workers, decided from Redis facts only (SPEC §3 step 2).

A record is dead when its key expired, it registered its death, its heartbeat is older than the
heartbeat TTL, or nobody is subscribed to its `rq:pubsub:<name>` channel although its heartbeat is
past the grace period and Redis has been up long enough for every live worker to resubscribe.
PIDs are never consulted: they repeat across container restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq import worker_registration
from rq.utils import as_text, utcparse
from rq.worker import BaseWorker, Worker

from common.rqtypes import JSONJob, JSONQueue

log = logging.getLogger(__name__)

WORKER_TTL = 30  # an idle worker heartbeats every WORKER_TTL - 15 s
JOB_MONITORING_INTERVAL = 10  # a busy worker heartbeats this often
HEARTBEAT_DEADLINE = WORKER_TTL + 15  # no heartbeat for this long: dead
SUBSCRIBER_GRACE = 25  # no pubsub subscriber and no heartbeat for this long: dead
WORKER_PREFIX = Worker.redis_worker_namespace_prefix


@dataclass(frozen=True)
class Verdict:
    name: str
    key: str
    alive: bool
    reason: str
    heartbeat_age: float | None


def _age(raw: bytes | None, now: datetime) -> float | None:
    if not raw:
        return None
    return (now - utcparse(as_text(raw)).replace(tzinfo=UTC)).total_seconds()


def judge(client: redis.Redis, worker_keys: list[str]) -> list[Verdict]:
    """One verdict per worker key, from a single round trip of facts."""
    if not worker_keys:
        return []
    names = [k[len(WORKER_PREFIX):] for k in worker_keys]
    with client.pipeline(transaction=False) as pipe:
        for key in worker_keys:
            pipe.hmget(key, ["last_heartbeat", "death", "birth"])
        pipe.pubsub_numsub(*[f"rq:pubsub:{name}" for name in names])
        pipe.info("server")
        *records, numsub, server = pipe.execute()
    subscribers = {as_text(channel): count for channel, count in numsub}
    redis_uptime = int(server.get("uptime_in_seconds", 0))
    now = datetime.now(UTC)
    verdicts = []
    for key, name, (heartbeat, death, birth) in zip(worker_keys, names, records, strict=True):
        age = _age(heartbeat or birth, now)
        listening = subscribers.get(f"rq:pubsub:{name}", 0) > 0
        if heartbeat is None and birth is None:
            reason, alive = "record expired", False
        elif death is not None:
            reason, alive = "registered its death", False
        elif age is not None and age > HEARTBEAT_DEADLINE:
            reason, alive = f"last heartbeat {age:.0f}s ago (deadline {HEARTBEAT_DEADLINE}s)", False
        elif not listening and (age or 0) > SUBSCRIBER_GRACE and redis_uptime > SUBSCRIBER_GRACE:
            reason, alive = f"no subscriber on rq:pubsub:{name} and last heartbeat {age:.0f}s ago", False
        else:
            reason, alive = "heartbeat fresh" + ("" if listening else ", not yet subscribed"), True
        verdicts.append(Verdict(name, key, alive, reason, age))
    return verdicts


def registered_worker_keys(client: redis.Redis) -> list[str]:
    return sorted(as_text(k) for k in client.smembers(worker_registration.REDIS_WORKER_KEYS))


def clear_stale(client: redis.Redis, *, dry_run: bool = False, extra_keys: tuple[str, ...] = ()) -> list[Verdict]:
    """Unregister every dead worker record with RQ's own calls; a live record is never touched."""
    keys = sorted(set(registered_worker_keys(client)) | set(extra_keys))
    dead = [v for v in judge(client, keys) if not v.alive]
    for verdict in dead:
        if dry_run:
            continue
        worker = Worker.find_by_key(verdict.key, connection=client, job_class=JSONJob, queue_class=JSONQueue)
        if worker is not None:
            worker.register_death()
        else:
            client.srem(worker_registration.REDIS_WORKER_KEYS, verdict.key)
        log.info("cleared stale worker record %s: %s", verdict.name, verdict.reason)
    for queue_key in client.scan_iter(match=worker_registration.WORKERS_BY_QUEUE_KEY % "*"):
        queue_name = as_text(queue_key)[len(worker_registration.WORKERS_BY_QUEUE_KEY % ""):]
        if not dry_run:
            worker_registration.clean_worker_registry(JSONQueue(queue_name, connection=client))
    return dead


def live_workers(client: redis.Redis) -> list[tuple[BaseWorker, Verdict]]:
    """Registered workers that the liveness rule holds alive, as RQ Worker objects."""
    verdicts = {v.key: v for v in judge(client, registered_worker_keys(client)) if v.alive}
    workers = Worker.all(connection=client, job_class=JSONJob, queue_class=JSONQueue)
    return [(w, verdicts[w.key]) for w in workers if w.key in verdicts]
