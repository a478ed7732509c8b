"""Polls answered from memory while Redis tracks the job (web/job_cache.py), never a stale answer."""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Iterator

import pytest

from common import jobstates
from common.rqtypes import JSONJob, JSONQueue
from common.settings import Settings
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from devtools.waiting import wait_until
from web.job_cache import STALE_AFTER, JobCache, job_of, unread_bytes

ROUNDS = int(os.environ.get("CHANGE_ROUNDS", "100"))

# ---------------------------------------------------------------- JobCache, no Redis


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> JobCache:
    tracked = JobCache(max_bytes=10_000, max_entry_bytes=600, clock=clock)
    tracked.set_tracking(True)
    return tracked


class TestJobCache:
    def test_an_unfinished_answer_is_kept_only_while_redis_tracks(self, clock: Clock) -> None:
        """Without tracking an unfinished job's answer is not stored; a finished one is, as untracked."""
        untracked = JobCache(max_bytes=10_000, max_entry_bytes=600, clock=clock)
        untracked.put("a", "identity", b"queued", gzipped=False, final=False, token=untracked.token())
        untracked.put("b", "identity", b"finished", gzipped=False, final=True, token=untracked.token())
        assert untracked.get("a", "identity") is None
        entry = untracked.get("b", "identity")
        assert entry is not None and entry.final and not entry.tracked

    def test_an_answer_read_across_an_announcement_is_not_kept_as_tracked(self, cache: JobCache) -> None:
        """A change announced between the token and the store makes the read answer untrusted."""
        token = cache.token()
        cache.invalidate([b"rq:job:other"])
        cache.put("a", "identity", b"queued", gzipped=False, final=False, token=token)
        cache.put("b", "identity", b"finished", gzipped=False, final=True, token=token)
        assert cache.get("a", "identity") is None
        entry = cache.get("b", "identity")
        assert entry is not None and not entry.tracked

    def test_an_announcement_drops_every_answer_of_its_job(self, cache: JobCache) -> None:
        """A change to the job's hash, its dependents or its result drops all its variants, no other job's."""
        for key in (b"rq:job:a", b"rq:job:a:dependents", b"shap:result:a"):
            for variant in ("identity", "gzip"):
                cache.put("a", variant, b"x", gzipped=False, final=False, token=cache.token())
            cache.put("b", "identity", b"y", gzipped=False, final=False, token=cache.token())
            cache.invalidate([key])
            assert cache.get("a", "identity") is None and cache.get("a", "gzip") is None
            assert cache.get("b", "identity") is not None

    def test_a_flush_announcement_drops_everything(self, cache: JobCache) -> None:
        """FLUSHALL is announced without keys: every answer goes."""
        cache.put("a", "identity", b"x", gzipped=False, final=True, token=cache.token())
        cache.invalidate(None)
        assert cache.get("a", "identity") is None

    def test_tracked_answers_are_not_served_once_redis_goes_quiet(self, cache: JobCache, clock: Clock) -> None:
        """No ping answered for STALE_AFTER seconds: tracked answers stop; hearing from Redis resumes them."""
        cache.put("a", "identity", b"x", gzipped=False, final=False, token=cache.token())
        clock.now += STALE_AFTER + 0.1
        assert not cache.tracking() and cache.get("a", "identity") is None
        cache.heard()
        assert cache.get("a", "identity") is not None

    def test_losing_tracking_drops_everything(self, cache: JobCache) -> None:
        """Changes made while the tracking connection was down were not announced."""
        cache.put("a", "identity", b"x", gzipped=False, final=True, token=cache.token())
        cache.set_tracking(False)
        assert cache.get("a", "identity") is None

    def test_a_tracked_final_answer_ends_when_its_keys_expire(self, cache: JobCache, clock: Clock) -> None:
        """A key past its TTL may linger before Redis deletes it; the answer ends at the TTL anyway."""
        cache.put("a", "identity", b"x", gzipped=False, final=True, token=cache.token(), ends_at=clock.now + 5)
        assert cache.get("a", "identity") is not None
        clock.now += 5
        cache.heard()
        assert cache.get("a", "identity") is None

    def test_the_cache_is_bounded_in_bytes(self, cache: JobCache) -> None:
        """Least recently used jobs go first; an answer over the entry limit is never stored."""
        small = JobCache(max_bytes=2 * (256 + 300), max_entry_bytes=400)
        small.set_tracking(True)
        small.put("a", "identity", b"a" * 300, gzipped=False, final=True, token=small.token())
        small.put("b", "identity", b"b" * 300, gzipped=False, final=True, token=small.token())
        small.put("too-big", "identity", b"z" * 401, gzipped=False, final=True, token=small.token())
        assert small.get("too-big", "identity") is None
        assert small.get("a", "identity") is not None  # now the most recently used
        small.put("c", "identity", b"c" * 300, gzipped=False, final=True, token=small.token())
        assert small.get("b", "identity") is None
        assert small.get("a", "identity") is not None and small.get("c", "identity") is not None
        assert math.isinf(small.get("c", "identity").ends_at)  # type: ignore[union-attr]

    def test_job_of_reads_the_id_from_every_tracked_key(self) -> None:
        """rq:job:<id>, rq:job:<id>:<suffix> and shap:result:<id>[:partial]; other keys name no job."""
        assert job_of(b"rq:job:abc") == job_of("rq:job:abc:dependents") == "abc"
        assert job_of(b"shap:result:abc:partial") == job_of(b"shap:result:abc") == "abc"
        assert job_of(b"rq:queue:shap-jobs") is None


def testunread_bytes_counts_what_waits_in_a_socket() -> None:
    """The pending check sees bytes that arrived and were not read yet; a closed socket is an error."""
    left, right = socket.socketpair()
    with left, right:
        assert unread_bytes(left.fileno()) == 0
        right.sendall(b"announcement")
        wait_until(lambda: unread_bytes(left.fileno()) == len(b"announcement"), 5, message="bytes")
        left.recv(100)
        assert unread_bytes(left.fileno()) == 0
    assert unread_bytes(left.fileno()) == -1


# ---------------------------------------------------------------- a real web process and redis-server


def hmget_calls(server: RedisServer) -> int:
    stats = server.client().info("commandstats").get("cmdstat_hmget", {})
    return int(stats.get("calls", 0))


def idle_job(server: RedisServer) -> JSONJob:
    """A job on the analysis queue (only its jobs are the API's) of a web with no worker: it stays queued
    until the test changes it."""
    queue = JSONQueue(Settings.from_env({}).queue_name, connection=server.client())
    return queue.enqueue(jobstates.ANALYSIS_FUNC, kwargs={"request": {"dataset": "default"}})


def answers(stack: Stack) -> JobCache:
    return stack.app.extensions["shap"].answers


def poll(stack: Stack, job_id: str) -> tuple[int, dict]:
    status, body, _ = stack.request("GET", f"/job_status/{job_id}")
    return status, body


def poll_from_memory(stack: Stack, job_id: str, tries: int = 20) -> dict:
    """Poll until one poll reads nothing from Redis (an earlier one may have been answered while an
    announcement, e.g. of the enqueue, or a ping's answer, was still unread); that poll's answer."""
    for _ in range(tries):
        reads = hmget_calls(stack.redis_server)
        status, body = poll(stack, job_id)
        if hmget_calls(stack.redis_server) == reads:
            assert status == 200, body
            return body
    raise AssertionError(f"none of {tries} polls of {job_id} was answered from memory")


@pytest.fixture
def tracked_web(web_only: Stack) -> Stack:
    wait_until(answers(web_only).tracking, 10, message="tracking on")
    return web_only


class TestPollsFromMemory:
    def test_a_repeated_poll_of_an_unchanged_job_does_not_read_redis(self, tracked_web: Stack) -> None:
        """A repeated poll of a queued job is answered from memory, with the answer Redis gave."""
        job = idle_job(tracked_web.redis_server)
        first = poll(tracked_web, job.id)
        assert first[0] == 200 and first[1]["status"] == "queued"
        assert poll_from_memory(tracked_web, job.id) == first[1]

    def test_a_poll_right_after_a_change_sees_the_change(self, tracked_web: Stack) -> None:
        """Another client changes the job between polls, 200 times: every poll shows the latest state."""
        job = idle_job(tracked_web.redis_server)
        assert poll(tracked_web, job.id)[1]["status"] == "queued"
        for round_ in range(ROUNDS):
            for state in (jobstates.STARTED, jobstates.QUEUED):
                job.set_status(state)
                assert poll(tracked_web, job.id)[1]["status"] == state, round_

    def test_a_deleted_job_is_404_at_the_next_poll(self, tracked_web: Stack) -> None:
        """Deleting the job's hash is announced: the cached answer goes."""
        job = idle_job(tracked_web.redis_server)
        assert poll(tracked_web, job.id)[0] == poll(tracked_web, job.id)[0] == 200
        job.delete()
        assert poll(tracked_web, job.id)[0] == 404

    def test_a_redis_restart_loses_no_change(self, tracked_web: Stack) -> None:
        """Polls during the outage answer 503, never the remembered answer; afterwards they show the change
        made after the restart, and are answered from memory again once tracking is back."""
        server = tracked_web.redis_server
        job = idle_job(server)
        assert poll(tracked_web, job.id)[1]["status"] == "queued"
        server.stop()
        assert poll(tracked_web, job.id)[0] == 503
        server.start()
        JSONJob.fetch(job.id, connection=server.client()).set_status(jobstates.STARTED)
        assert poll(tracked_web, job.id)[1]["status"] == jobstates.STARTED
        wait_until(answers(tracked_web).tracking, 15, message="tracking back")
        assert poll_from_memory(tracked_web, job.id)["status"] == jobstates.STARTED


@pytest.fixture
def web_without_tracking(redis_server: RedisServer) -> Iterator[Stack]:
    """The web logs in as a Redis user that may do anything but CLIENT TRACKING."""
    redis_server.client().acl_setuser("poller", enabled=True, passwords=["+poller-secret"], keys=["*"],
                                      channels=["*"], commands=["+@all", "-client|tracking"])
    url = f"redis://poller:poller-secret@127.0.0.1:{redis_server.port}/0"
    running = Stack(redis_server, env={"REDIS_URL": url}).start_web()
    yield running
    running.stop()


def test_a_redis_that_refuses_tracking_answers_every_poll_from_redis(web_without_tracking: Stack,
                                                                     redis_server: RedisServer) -> None:
    """CLIENT TRACKING refused: the web works as without a cache, and each poll reads Redis."""
    web = web_without_tracking
    job = idle_job(redis_server)
    for expected in (jobstates.QUEUED, jobstates.STARTED):
        reads = hmget_calls(redis_server)
        assert poll(web, job.id)[1]["status"] == expected
        assert hmget_calls(redis_server) == reads + 1
        job.set_status(jobstates.STARTED)
    assert not answers(web).tracking()
    listener = web.app.extensions["shap"].invalidations
    wait_until(lambda: not listener.alive(), 10, message="listener gave up")

