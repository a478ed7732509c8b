"""The /job_status answers a web process last gave, kept while Redis says their jobs have not changed.

Redis's own server-assisted client-side caching (CLIENT TRACKING in broadcast mode): one connection of
each web process asks Redis to announce every change to a key under TRACKED_PREFIXES (a job's hash, its
result), to itself, on the __redis__:invalidate channel it subscribes to. A poll of a job that has not
changed since the last poll is then answered from memory, with no round trip to Redis. An announcement
arrives within a millisecond or so of the change, like the answer to a poll that read Redis then.

The cache answers only while that connection is known to be up. It is emptied whenever the connection
is made or lost, and stops answering when Redis has not been heard from for STALE_AFTER seconds (the
listener pings every PING_EVERY). A Redis that refuses CLIENT TRACKING (older than 6, or an ACL without
it) leaves the service as it was without tracking: every poll reads Redis; a finished job's answer is
still kept, served after a check that the job and its result still exist.
"""

from __future__ import annotations

import ctypes
import logging
import math
import select
import socket
import ssl
import termios
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.backoff import ExponentialBackoff
from redis.client import PubSub
from redis.exceptions import ResponseError

from common import keys
from common.redis_conn import REDIS_UNREACHABLE, tracking_pool
from common.rqtypes import JSONJob
from common.settings import Settings

log = logging.getLogger(__name__)

TRACKED_PREFIXES = (JSONJob.key_for(""), keys.job_result(""))  # rq:job:<id>..., shap:result:<id>...
INVALIDATIONS = "__redis__:invalidate"
PING_EVERY = 0.5
STALE_AFTER = 2.0
LOCK_WAIT = 0.05  # longest a poll waits for the listener; it may hold the lock while it reconnects
ENTRY_OVERHEAD = 256  # bytes counted per entry beyond its answer (small answers still fill the budget)
# The listener's connection is gone: Redis unreachable, or its raw socket (read directly) failed.
CONNECTION_LOST: tuple[type[Exception], ...] = (*REDIS_UNREACHABLE, OSError)


@dataclass(frozen=True)
class Cached:
    """One answer. `final`: a finished job's, which changes only when the job or its result goes.
    `tracked`: stored while Redis tracked the job, so valid until Redis announces a change or `ends_at`
    (monotonic; when the job and its result expire). An untracked entry is always final, and is served
    only after a check that the job and its result still exist."""

    answer: bytes
    gzipped: bool
    final: bool
    tracked: bool
    ends_at: float = math.inf


def job_of(key: bytes | str) -> str | None:
    """The job id in a tracked key (rq:job:<id>, rq:job:<id>:dependents, shap:result:<id>...)."""
    text = key.decode() if isinstance(key, bytes) else key
    for prefix in TRACKED_PREFIXES:
        if text.startswith(prefix):
            return text[len(prefix):].split(":", 1)[0]
    return None


class JobCache:
    """Answers by job id and variant (encoding, fields), least recently used job first out, bounded in
    bytes. A read that may be stored takes a `token()` first: an answer is stored as tracked only if no
    announcement came between the token and the store, so an answer read just before a change is never
    kept after the change was announced. A tracked answer is served only when `pending()` (set by the
    listener) says no announcement waits unread."""

    def __init__(self, max_bytes: int, max_entry_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes, self.max_entry_bytes = max_bytes, max_entry_bytes
        self._clock = clock
        self._jobs: OrderedDict[str, dict[str, Cached]] = OrderedDict()
        self._size = 0
        self.lock = threading.RLock()  # the listener holds it while it applies announcements
        self.pending: Callable[[], bool] = lambda: False
        self._generation = 0
        self._tracking = False
        self._heard_at = -math.inf

    def tracking(self) -> bool:
        """Whether Redis tracks for this cache now: connected, subscribed, and heard from lately."""
        return self._tracking and self._clock() - self._heard_at < STALE_AFTER

    def token(self) -> int:
        return self._generation

    def get(self, job_id: str, variant: str) -> Cached | None:
        if not self.lock.acquire(timeout=LOCK_WAIT):
            return None  # the listener is making its connection again: read Redis
        try:
            entry = self._jobs.get(job_id, {}).get(variant)
            if entry is None:
                return None
            if entry.tracked and not (self.tracking() and self._clock() < entry.ends_at and not self.pending()):
                return None
            self._jobs.move_to_end(job_id)
            return entry
        finally:
            self.lock.release()

    def put(self, job_id: str, variant: str, answer: bytes, *, gzipped: bool, final: bool, token: int,
            ends_at: float = math.inf) -> None:
        if len(answer) > self.max_entry_bytes or not self.lock.acquire(timeout=LOCK_WAIT):
            return
        try:
            tracked = token == self._generation and self.tracking()
            if not (tracked or final):
                return
            entries = self._jobs.setdefault(job_id, {})
            previous = entries.get(variant)
            if previous is not None:
                self._size -= len(previous.answer) + ENTRY_OVERHEAD
            entries[variant] = Cached(answer, gzipped, final, tracked, ends_at if tracked else math.inf)
            self._size += len(answer) + ENTRY_OVERHEAD
            self._jobs.move_to_end(job_id)
            while self._size > self.max_bytes:
                self._drop(next(iter(self._jobs)))
        finally:
            self.lock.release()

    def discard(self, job_id: str) -> None:
        with self.lock:
            self._drop(job_id)

    def invalidate(self, changed: list[bytes] | None) -> None:
        """Redis announced a change to these keys; None: to every key (FLUSHALL, FLUSHDB)."""
        with self.lock:
            self._generation += 1
            if changed is None:
                self._clear()
                return
            for key in changed:
                job_id = job_of(key)
                if job_id is not None:
                    self._drop(job_id)

    def set_tracking(self, on: bool) -> None:
        """The tracking connection was (re)made and subscribed (on), or lost (off): either way, nothing
        stored before can be trusted."""
        with self.lock:
            self._generation += 1
            self._clear()
            self._tracking = on
            self._heard_at = self._clock()

    def heard(self) -> None:
        self._heard_at = self._clock()

    def _drop(self, job_id: str) -> None:
        entries = self._jobs.pop(job_id, None)
        if entries:
            self._size -= sum(len(entry.answer) + ENTRY_OVERHEAD for entry in entries.values())

    def _clear(self) -> None:
        self._jobs.clear()
        self._size = 0


class InvalidationListener:
    """The thread that keeps a JobCache's tracking connection subscribed and applies Redis's announcements.

    Tracking belongs to a connection, so it is switched on in the connection's connect hook: on the first
    connect and on every reconnect redis-py's PubSub makes, before PubSub subscribes again.
    Announcements stay in the socket until the listener reads and applies them holding the cache's lock,
    and a poll first checks that the socket holds none: an announcement Redis has sent is never missed
    by a poll that starts after it arrived."""

    def __init__(self, settings: Settings, cache: JobCache) -> None:
        self.cache = cache
        cache.pending = self._pending
        self._pool = tracking_pool(settings, self._track)
        self._pubsub = PubSub(self._pool)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redis-invalidations", daemon=True)
        self._backoff = ExponentialBackoff(cap=2.0, base=0.05)

    def start(self) -> InvalidationListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(PING_EVERY + 5)
        self.cache.set_tracking(False)
        self._pubsub.close()
        self._pool.disconnect()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _track(self, connection: Any) -> None:
        connection.on_connect()
        self.cache.set_tracking(False)  # whatever changed while this connection was down was not heard
        connection.send_command("CLIENT", "ID")
        client_id = connection.read_response()
        prefixes = [word for prefix in TRACKED_PREFIXES for word in ("PREFIX", prefix)]
        connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", *prefixes)
        connection.read_response()

    def _socket(self) -> socket.socket | None:
        connection = self._pubsub.connection
        return getattr(connection, "_sock", None) if connection is not None else None

    def _pending(self) -> bool:
        """Whether announcements may wait unread (or the connection is down)."""
        sock = self._socket()
        return sock is None or _has_unread(sock)

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            sock = self._socket()
            idle = sock is not None and not _wait_readable(sock, PING_EVERY)
            try:
                with self.cache.lock:  # polls wait while the connection is read, written or made again
                    try:
                        resumed = self._exchange(idle)
                    except CONNECTION_LOST:
                        self.cache.set_tracking(False)  # before any poll can look again
                        raise
            except ResponseError as exc:
                log.warning("Redis refused CLIENT TRACKING (%s): every poll of an unfinished job reads Redis", exc)
                return
            except CONNECTION_LOST as exc:
                failures += 1
                if failures == 1:
                    log.warning("Lost the Redis invalidation connection (%s); polls read Redis until it is back", exc)
                self._stopped.wait(self._backoff.compute(failures))
                continue
            if resumed and failures:
                log.info("Redis invalidation connection back; polls are answered from memory again")
                failures = 0

    def _exchange(self, idle: bool) -> bool:
        """Subscribe (first time), ping (idle), or apply what arrived; True after a (re)subscription.
        redis-py makes the connection again here when it was lost, so this runs holding the cache's lock."""
        if self._pubsub.connection is None:
            self._pubsub.subscribe(INVALIDATIONS)
        if idle:
            self._pubsub.ping()  # its answer shows Redis is still there (see STALE_AFTER)
            return False
        return self._apply_available()

    def _apply_available(self) -> bool:
        """Read and apply every message already received; True when it included a (re)subscription."""
        subscribed = False
        while (message := self._pubsub.get_message(timeout=0)) is not None:
            self.cache.heard()
            if message["type"] == "subscribe":
                self.cache.set_tracking(True)
                subscribed = True
            elif message["type"] == "message":
                self.cache.invalidate(message["data"])
        return subscribed


def _has_unread(sock: socket.socket) -> bool:
    """Whether bytes wait in the socket (or an error says to assume so); keeps the GIL."""
    return (isinstance(sock, ssl.SSLSocket) and sock.pending() > 0) or unread_bytes(sock.fileno()) != 0


def _wait_readable(sock: socket.socket, timeout: float) -> bool:
    if _has_unread(sock):
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(int(timeout * 1000)))


_ioctl = ctypes.PyDLL(None).ioctl  # PyDLL: the call keeps the GIL
_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.POINTER(ctypes.c_int)]  # Linux: the third is passed as fixed
_ioctl.restype = ctypes.c_int


def unread_bytes(fd: int) -> int:
    """Bytes waiting in a socket, by ioctl(FIONREAD), holding the GIL: every poll asks, and a call that
    released the GIL (as select, recv and fcntl.ioctl do) would hand it to another of the web's threads
    and wait to get it back, which costs more than the answer from memory saves. -1 on error."""
    count = ctypes.c_int(0)
    if _ioctl(fd, termios.FIONREAD, ctypes.byref(count)) != 0:
        return -1
    return count.value
