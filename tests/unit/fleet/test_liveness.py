"""Liveness of worker records, stale-record clearing and unique names, against a real redis-server and
real RQ worker records (born with RQ's own calls, subscribed to their pubsub channels)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis

from devtools.redis_server import RedisServer
from devtools.rq_state import backdate_heartbeat, rq_worker
from devtools.waiting import wait_until
from fleet import liveness, naming
from worker.rq_worker import build_worker

QUEUE = "liveness-test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the module: the subscriber rule needs a Redis up for longer than its grace."""
    running = RedisServer(tmp_path_factory.mktemp("liveness") / "redis").start()
    yield running
    running.stop()


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    connection = server.client()
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def workers(client: redis.Redis) -> Iterator[list]:
    """Workers a test makes; each is unsubscribed at the end."""
    made: list = []
    yield made
    for worker in made:
        worker.unsubscribe()


def verdict_of(client: redis.Redis, name: str) -> liveness.Verdict:
    return liveness.judge_names(client, [name])[name]


class TestJudge:
    def test_a_listening_worker_with_a_fresh_heartbeat_is_live(self, client, workers):
        """A born, subscribed worker is alive and listening."""
        workers.append(rq_worker(client, QUEUE))
        verdict = verdict_of(client, workers[0].name)
        assert (verdict.alive, verdict.listening, verdict.live) == (True, True, True)

    def test_a_fresh_record_nobody_listens_to_is_alive_but_not_live(self, client):
        """Just killed or still starting: never condemned, but not listed as live either."""
        worker = rq_worker(client, QUEUE, listening=False)
        verdict = verdict_of(client, worker.name)
        assert (verdict.alive, verdict.listening, verdict.live) == (True, False, False)

    def test_a_heartbeat_older_than_the_deadline_is_dead(self, client, workers):
        """Even a subscribed record is dead once its heartbeat is past the deadline."""
        workers.append(rq_worker(client, QUEUE))
        backdate_heartbeat(client, workers[0].name, liveness.HEARTBEAT_DEADLINE + 5)
        verdict = verdict_of(client, workers[0].name)
        assert not verdict.alive and "heartbeat" in verdict.reason

    def test_a_record_that_registered_its_death_is_dead(self, client):
        """RQ's death mark is final."""
        worker = rq_worker(client, QUEUE, listening=False)
        worker.register_death()
        assert verdict_of(client, worker.name).reason == "registered its death"

    def test_a_missing_record_is_dead(self, client):
        """A key that expired (or never existed) belongs to nobody alive."""
        assert verdict_of(client, "shap-worker-gone").reason == "record expired"

    def test_a_subscribed_worker_with_an_old_but_valid_heartbeat_stays_alive(self, client, workers):
        """Busy workers heartbeat every 10 s: an age under the deadline never condemns a listening worker."""
        workers.append(rq_worker(client, QUEUE))
        backdate_heartbeat(client, workers[0].name, liveness.SUBSCRIBER_GRACE + 3)
        assert verdict_of(client, workers[0].name).live


class TestClearStale:
    def test_clear_stale_removes_dead_records_and_never_a_live_one(self, client, workers):
        """Dead records are unregistered with register_death; live and just-killed ones stay registered."""
        workers.append(rq_worker(client, QUEUE))
        just_killed = rq_worker(client, QUEUE, listening=False)
        dead = rq_worker(client, QUEUE, listening=False)
        backdate_heartbeat(client, dead.name, liveness.HEARTBEAT_DEADLINE + 60)

        removed = liveness.clear_stale(client)

        assert [v.name for v in removed] == [dead.name]
        registered = set(liveness.registered_worker_keys(client))
        assert registered == {workers[0].key, just_killed.key}
        assert client.hexists(dead.key, "death")
        assert client.ttl(dead.key) <= 60
        assert dead.key.encode() not in client.smembers(f"rq:workers:{QUEUE}")

    def test_a_dry_run_reports_dead_records_and_writes_nothing(self, client):
        """clear_stale(dry_run=True) only reads."""
        dead = rq_worker(client, QUEUE, listening=False)
        backdate_heartbeat(client, dead.name, liveness.HEARTBEAT_DEADLINE + 60)
        before = client.hgetall(dead.key), client.smembers("rq:workers")
        assert [v.name for v in liveness.clear_stale(client, dry_run=True)] == [dead.name]
        assert (client.hgetall(dead.key), client.smembers("rq:workers")) == before

    def test_a_record_listed_in_rq_workers_whose_key_expired_is_dropped(self, client):
        """The set member of an expired key is removed from rq:workers and the per-queue set."""
        worker = rq_worker(client, QUEUE, listening=False)
        client.delete(worker.key)
        liveness.clear_stale(client)
        assert client.smembers("rq:workers") == set()
        assert client.smembers(f"rq:workers:{QUEUE}") == set()

    def test_live_workers_lists_only_listening_workers(self, client, workers):
        """live_workers is what /worker-status shows: no stale or silent records."""
        workers.append(rq_worker(client, QUEUE))
        rq_worker(client, QUEUE, listening=False)
        assert [w.name for w, _ in liveness.live_workers(client)] == [workers[0].name]

    def test_a_heartbeat_restores_a_record_that_was_wrongly_unregistered(self, client, workers):
        """A live worker re-asserts its registration (and drops a death mark) on its next heartbeat."""
        workers.append(rq_worker(client, QUEUE))
        workers[0].register_death()
        assert not verdict_of(client, workers[0].name).alive
        workers[0].heartbeat()
        assert verdict_of(client, workers[0].name).live
        assert workers[0].key in liveness.registered_worker_keys(client)


class TestNames:
    def test_unique_names_carry_host_pid_epoch_and_random_hex(self):
        """shap-worker-<hostname>-<pid>-<epoch>-<8 hex>, different every time."""
        first, second = naming.unique_name(), naming.unique_name()
        assert first != second
        parts = first.rsplit("-", 3)
        assert parts[0].startswith("shap-worker-") and parts[1].isdigit() and parts[2].isdigit()
        assert len(parts[3]) == 8 and int(parts[3], 16) >= 0

    def test_pick_name_keeps_a_free_first_name(self, client):
        """A forced name nobody holds is used as is."""
        assert naming.pick_name(client, first="shap-worker-forced") == "shap-worker-forced"

    def test_pick_name_reuses_a_name_whose_record_registered_its_death(self, client):
        """RQ's own rule: a record with a death mark does not hold its name."""
        worker = rq_worker(client, QUEUE, listening=False)
        worker.register_death()
        assert naming.pick_name(client, first=worker.name) == worker.name

    def test_pick_name_replaces_a_name_held_by_a_live_record(self, client, workers, caplog):
        """A held name is replaced by a fresh unique one, with a log line for the attempt."""
        workers.append(rq_worker(client, QUEUE))
        with caplog.at_level(logging.WARNING, logger="fleet.naming"):
            picked = naming.pick_name(client, first=workers[0].name, prefix="shap-worker", backoff=0)
        assert picked != workers[0].name and picked.startswith("shap-worker-")
        assert "attempt 1/5" in caplog.text

    def test_birth_binds_a_fresh_name_when_rq_reports_a_collision(self, client, workers):
        """Two workers built with the same name: the second one's birth binds a fresh name."""
        workers.append(rq_worker(client, QUEUE, "shap-worker-same"))
        second = build_worker(client, [QUEUE], "shap-worker-same")
        second.name_backoff = 0
        second.register_birth()
        assert second.name != "shap-worker-same" and second.name.startswith("shap-worker-")
        assert client.exists(second.key) and client.hget(workers[0].key, "death") is None

    def test_birth_gives_up_when_its_last_attempt_collides(self, client, workers):
        """With every attempt used up, register_birth raises NameCollision (the process then exits 1)."""
        workers.append(rq_worker(client, QUEUE, "shap-worker-taken"))
        loser = build_worker(client, [QUEUE], "shap-worker-taken")
        loser.name_attempts, loser.name_backoff = 1, 0
        with pytest.raises(naming.NameCollision):
            loser.register_birth()
        assert client.hget(workers[0].key, "death") is None

    def test_the_retry_is_bounded_and_logs_every_attempt(self, caplog):
        """next_attempt returns fresh names until the last attempt, then raises."""
        with caplog.at_level(logging.WARNING, logger="fleet.naming"):
            fresh = [naming.next_attempt("taken", attempt, "shap-worker", attempts=3, backoff=0) for attempt in (1, 2)]
            with pytest.raises(naming.NameCollision):
                naming.next_attempt("taken", 3, "shap-worker", attempts=3, backoff=0)
        assert len(set(fresh)) == 2
        assert "attempt 1/3" in caplog.text and "attempt 2/3" in caplog.text and "attempt 3/3" in caplog.text


@pytest.mark.slow
class TestSubscriberRule:
    """Last in the module: it waits until the module's Redis has been up longer than the grace."""

    def test_no_subscriber_condemns_only_after_the_grace_and_with_redis_up_long_enough(self, client, server):
        """No subscriber + heartbeat older than the grace + Redis up longer than the grace: dead."""
        wait_until(lambda: int(client.info("server")["uptime_in_seconds"]) > liveness.SUBSCRIBER_GRACE + 1,
                   liveness.SUBSCRIBER_GRACE + 10, interval=0.5, message="Redis uptime past the grace")
        worker = rq_worker(client, QUEUE, listening=False)
        backdate_heartbeat(client, worker.name, liveness.SUBSCRIBER_GRACE + 3)
        verdict = verdict_of(client, worker.name)
        assert not verdict.alive and "no subscriber" in verdict.reason
