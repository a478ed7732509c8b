"""The RQ job that delivers a completion callback (run by the maintenance worker, never an analysis horse).

One attempt per run: a POST of `{job_id, status, status_url}` with its HMAC signature, the whole attempt
(the host's name lookup, connect, status line, headers and body) bounded by CALLBACK_TIMEOUT, and every
attempt logged with its outcome. A non-2xx answer, no answer or no complete answer in time raises, and RQ's
Retry (set by the web) runs the job again after its backoff. No redirect is followed: the next location
could be a host nobody allowed."""

from __future__ import annotations

import contextlib
import http.client
import logging
import queue
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from rq import get_current_job

from common import __version__, callbacks, jobstates
from common.rqtypes import JSONJob
from worker import context

log = logging.getLogger(__name__)


class CallbackDeliveryError(Exception):
    """The receiver did not take the notification (non-2xx, or no answer in time): RQ retries the job.
    Not a ServiceError or ValueError on purpose, so the worker's no-retry rule for bad input skips it."""


class AttemptTimedOut(CallbackDeliveryError):
    """The attempt as a whole (name lookup, connect, status line, headers and body) took CALLBACK_TIMEOUT: retried."""


class _Deadline:
    """Ends an attempt at its deadline whatever it is waiting for: http.client's timeout bounds each socket
    operation, so a receiver that sends one header line every few seconds never trips it. At the deadline a
    timer shuts the connection's socket down, and the read blocked on it returns at once. Before there is a
    socket, the name lookup and the connect each wait only `remaining()`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.connection: http.client.HTTPConnection | None = None
        self.fired = threading.Event()
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def __enter__(self) -> _Deadline:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()

    def remaining(self, step: str) -> float:
        """Seconds left for `step`; TimeoutError (the attempt's deadline fired) when none are."""
        left = self.ends - time.monotonic()
        if left <= 0:
            self.fired.set()
            raise TimeoutError(f"the deadline passed before {step}")
        return left

    def _fire(self) -> None:
        self.fired.set()
        sock = self.connection.sock if self.connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: the attempt ended by itself
                sock.shutdown(socket.SHUT_RDWR)


def _resolve(host: str, port: int, deadline: _Deadline) -> list[tuple[Any, ...]]:
    """The addresses of `host`, looked up within the attempt's deadline. The C resolver (getaddrinfo) takes no
    timeout and cannot be interrupted, so it runs in a daemon thread of its own and the attempt waits for it
    only until the deadline: a name server that never answers keeps that thread (until the system resolver's
    own timeout), never the attempt."""
    answers: queue.SimpleQueue[list[tuple[Any, ...]] | OSError] = queue.SimpleQueue()

    def lookup() -> None:
        try:
            answers.put(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:  # gaierror (no such name, no answer) is an OSError
            answers.put(exc)

    threading.Thread(target=lookup, name=f"callback-lookup-{host}", daemon=True).start()
    try:
        answer = answers.get(timeout=deadline.remaining(f"looking up {host}"))
    except queue.Empty:
        deadline.fired.set()
        raise TimeoutError(f"the lookup of {host} did not answer in time") from None
    if isinstance(answer, OSError):
        raise answer
    return answer


class _Connection(http.client.HTTPConnection):
    """An HTTP connection whose connect (name lookup, then TCP to each address in turn) waits only until the
    attempt's deadline: http.client's own connect calls socket.create_connection, whose lookup has no timeout
    and which gives every address the whole timeout again."""

    deadline: _Deadline

    def connect(self) -> None:
        failures: list[OSError] = []
        for family, kind, proto, _, address in _resolve(self.host, self.port, self.deadline):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.deadline.remaining(f"connecting to {self.host}"))
                sock.connect(address)
            except OSError as exc:
                sock.close()
                failures.append(exc)
                if self.deadline.fired.is_set():
                    break
                continue
            sock.settimeout(self.timeout)  # what http.client would set: each later operation bounded too
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
            return
        raise failures[-1] if failures else OSError(f"{self.host} has no address")


class _TLSConnection(http.client.HTTPSConnection, _Connection):
    """HTTPS over `_Connection`: HTTPSConnection.connect calls the next connect in this class's order, which is
    `_Connection.connect` (bounded lookup and TCP connect), then wraps the socket (certificate for the host)."""


def _post(url: str, payload: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST `payload`; the status code, within `timeout` seconds in all (name lookup, connect, headers and
    body), else AttemptTimedOut."""
    parts = urlsplit(url)
    kind = _TLSConnection if parts.scheme == "https" else _Connection
    connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    with _Deadline(timeout) as deadline:
        connection.deadline = deadline
        deadline.connection = connection
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", target, body=payload, headers=headers)
            response = connection.getresponse()
            response.read(64 * 1024)  # a bounded read, so the connection can close cleanly
        except (OSError, http.client.HTTPException) as exc:
            if deadline.fired.is_set():
                raise AttemptTimedOut(f"no complete answer from {url} within {timeout:g}s (CALLBACK_TIMEOUT): "
                                      f"{exc}") from exc
            raise
        finally:
            connection.close()
    if deadline.fired.is_set():
        raise AttemptTimedOut(f"no complete answer from {url} within {timeout:g}s (CALLBACK_TIMEOUT)")
    return response.status


def send_callback(job_id: str, url: str, status_url: str) -> dict[str, Any]:
    """RQ entry point: notify `url` that analysis `job_id` ended; raises CallbackDeliveryError to be retried."""
    ctx = context.current()
    settings = ctx.settings
    me = get_current_job()
    attempt = 1 + settings.callback_retries - (me.retries_left if me and me.retries_left is not None
                                                else settings.callback_retries)
    status = JSONJob(job_id, connection=ctx.redis).get_status(refresh=True)
    if status not in callbacks.ENDED:  # expired, or requeued by hand: nothing true to report
        log.warning("callback of job %s not sent: the job is %s", job_id, status)
        return {"sent": False, "status": status}
    payload = callbacks.body(job_id, status or jobstates.FAILED, status_url)
    headers = {"Content-Type": "application/json", "User-Agent": f"shap-microservice/{__version__}",
               callbacks.SIGNATURE_HEADER: callbacks.signature(settings.callback_secret or "", payload)}
    started = time.perf_counter()
    try:
        answer = _post(url, payload, headers, settings.callback_timeout)
    except AttemptTimedOut as exc:
        log.warning("callback of job %s attempt %d to %s timed out after %.3fs: %s", job_id, attempt, url,
                    time.perf_counter() - started, exc)
        raise
    except (OSError, http.client.HTTPException) as exc:
        log.warning("callback of job %s attempt %d to %s failed after %.3fs: %s: %s", job_id, attempt, url,
                    time.perf_counter() - started, type(exc).__name__, exc)
        raise CallbackDeliveryError(f"no answer from {url}: {exc}") from exc
    elapsed = time.perf_counter() - started
    if not 200 <= answer < 300:
        log.warning("callback of job %s attempt %d to %s: HTTP %d in %.3fs", job_id, attempt, url, answer, elapsed)
        raise CallbackDeliveryError(f"{url} answered HTTP {answer}")
    log.info("callback of job %s attempt %d to %s: HTTP %d in %.3fs (delivered)", job_id, attempt, url, answer,
             elapsed)
    return {"sent": True, "status": status, "attempt": attempt, "http_status": answer}
