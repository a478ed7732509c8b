"""Which RQ worker records belong to live workers, decided from Redis facts only (docs/operations.md:
"Is a worker alive?").

Two questions, two answers:

* `Verdict.alive` (may its owner still be running?) is the conservative answer every destructive
  decision uses: a record is dead only when its key expired, it registered its death, its heartbeat
  is older than HEARTBEAT_DEADLINE, or nobody is subscribed to its `rq:pubsub:<name>` channel although
  its heartbeat is older than SUBSCRIBER_GRACE and Redis has been up long enough for every live
  worker to have resubscribed. A live worker is never condemned by a transient reconnect.
* `Verdict.listening` (is it live right now?) adds the one fact a killed process loses at once: a
  subscriber on its channel. `/worker-status` lists workers that are alive AND listening, so the
  records a `kill -9` left behind disappear from it immediately, before the conservative rule allows
  removing them.

PIDs are never consulted: they repeat across container restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq import worker_registration
from rq.command import PUBSUB_CHANNEL_TEMPLATE
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
    listening: bool
    reason: str
    heartbeat_age: float | None

    @property
    def live(self) -> bool:
        """Alive and reachable right now: what /worker-status lists."""
        return self.alive and self.listening


def worker_key(name: str) -> str:
    return WORKER_PREFIX + name


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
        pipe.pubsub_numsub(*[PUBSUB_CHANNEL_TEMPLATE % name for name in names])
        pipe.info("server")
        *records, numsub, server = pipe.execute()
    subscribers = {as_text(channel): int(count) for channel, count in numsub}
    redis_uptime = int(server.get("uptime_in_seconds", 0))
    now = datetime.now(UTC)
    verdicts = []
    for key, name, (heartbeat, death, birth) in zip(worker_keys, names, records, strict=True):
        age = _age(heartbeat or birth, now)
        listening = subscribers.get(PUBSUB_CHANNEL_TEMPLATE % name, 0) > 0
        if heartbeat is None and birth is None:
            reason, alive = "record expired", False
        elif death is not None:
            reason, alive = "registered its death", False
        elif age is not None and age > HEARTBEAT_DEADLINE:
            reason, alive = f"last heartbeat {age:.0f}s ago (deadline {HEARTBEAT_DEADLINE}s)", False
        elif not listening and (age or 0) > SUBSCRIBER_GRACE and redis_uptime > SUBSCRIBER_GRACE:
            reason, alive = f"no subscriber on its pubsub channel and last heartbeat {age:.0f}s ago", False
        elif listening:
            reason, alive = "heartbeat fresh, listening", True
        else:
            reason, alive = "heartbeat fresh but nobody listening (starting, reconnecting or just killed)", True
        verdicts.append(Verdict(name, key, alive, listening, reason, age))
    return verdicts


def judge_names(client: redis.Redis, names: list[str]) -> dict[str, Verdict]:
    """Verdicts by worker name, for names taken from elsewhere (job executions), registered or not."""
    unique = sorted(set(names))
    return {v.name: v for v in judge(client, [worker_key(n) for n in unique])}


def registered_worker_keys(client: redis.Redis) -> list[str]:
    members: set[bytes] = client.smembers(worker_registration.REDIS_WORKER_KEYS)  # type: ignore[assignment]
    return sorted(as_text(k) for k in members)


def all_verdicts(client: redis.Redis) -> list[Verdict]:
    """A verdict for every registered worker record."""
    return judge(client, registered_worker_keys(client))


def clear_stale(client: redis.Redis, *, dry_run: bool = False) -> list[Verdict]:
    """Unregister every dead worker record with RQ's own calls; a live record is never touched.

    Returns the dead records found (and, unless dry_run, unregistered).
    """
    dead = [v for v in all_verdicts(client) if not v.alive]
    if dry_run:
        return dead
    for verdict in dead:
        worker = Worker.find_by_key(verdict.key, connection=client, job_class=JSONJob, queue_class=JSONQueue)
        if worker is not None:  # find_by_key itself drops a key that no longer exists from rq:workers
            worker.register_death()
        log.info("cleared stale worker record %s: %s", verdict.name, verdict.reason)
    prefix = worker_registration.WORKERS_BY_QUEUE_KEY % ""
    for queue_key in client.scan_iter(match=worker_registration.WORKERS_BY_QUEUE_KEY % "*"):
        # RQ's own sweep of the per-queue sets: drops members whose record no longer exists
        worker_registration.clean_worker_registry(JSONQueue(as_text(queue_key)[len(prefix):], connection=client))
    return dead


def live_workers(client: redis.Redis, judged: list[Verdict] | None = None) -> list[tuple[BaseWorker, Verdict]]:
    """Registered workers that are alive and listening right now, as RQ Worker objects; `judged`: the
    verdicts the caller already has (all_verdicts), so they are not read again."""
    verdicts = {v.key: v for v in (all_verdicts(client) if judged is None else judged) if v.live}
    workers = Worker.all(connection=client, job_class=JSONJob, queue_class=JSONQueue)
    return sorted(((w, verdicts[w.key]) for w in workers if w.key in verdicts), key=lambda pair: pair[0].name)
