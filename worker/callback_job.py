"""The RQ job that delivers a completion callback (run by the maintenance worker, never an analysis horse).

One attempt per run: a POST of `{job_id, status, status_url}` with its HMAC signature, the whole attempt
(connect, status line, headers and body) bounded by CALLBACK_TIMEOUT, and every attempt logged with its
outcome. A non-2xx answer, no answer or no complete answer in time raises, and RQ's Retry (set by the web) runs the job
again after its backoff. No redirect is followed: the next location could be a host nobody allowed."""

from __future__ import annotations

import contextlib
import http.client
import logging
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
    """The attempt as a whole (connect, status line, headers and body) took CALLBACK_TIMEOUT: retried."""


class _Deadline:
    """Ends an attempt at its deadline whatever it is waiting for: http.client's timeout bounds each socket
    operation, so a receiver that sends one header line every few seconds never trips it. At the deadline a
    timer shuts the connection's socket down, and the read blocked on it returns at once."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.connection = connection
        self.fired = threading.Event()
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def __enter__(self) -> _Deadline:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()

    def _fire(self) -> None:
        self.fired.set()
        sock = self.connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: the attempt ended by itself
                sock.shutdown(socket.SHUT_RDWR)


def _post(url: str, payload: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST `payload`; the status code, within `timeout` seconds in all (connect, headers and body), else
    AttemptTimedOut."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    try:
        with _Deadline(connection, timeout) as deadline:
            try:
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                connection.request("POST", target, body=payload, headers=headers)
                response = connection.getresponse()
                response.read(64 * 1024)  # a bounded read, so the connection can close cleanly
            except (OSError, http.client.HTTPException) as exc:
                if deadline.fired.is_set():
                    raise AttemptTimedOut(f"no complete answer from {url} within {timeout:g}s "
                                          "(CALLBACK_TIMEOUT)") from exc
                raise
        if deadline.fired.is_set():
            raise AttemptTimedOut(f"no complete answer from {url} within {timeout:g}s (CALLBACK_TIMEOUT)")
        return response.status
    finally:
        connection.close()


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
