"""Issue 22, finding 5: a receiver that sends a status line and then one header line every few seconds
kept one callback attempt running until RQ's JobTimeout (15 s with CALLBACK_TIMEOUT 5): not retried, no
attempt logged, the cleanup on the same worker late. Each attempt is now bounded in total (connect,
headers and body) by CALLBACK_TIMEOUT, logged and retried; a URL that can never be delivered is a 400."""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest

from common import jobstates
from common.rqtypes import JSONQueue
from devtools.stack import Stack
from devtools.waiting import wait_until
from tests.hostile.helpers import assert_refusal
from tests.service.test_callbacks import maintenance_log, start_maintenance

ENV = {"CALLBACK_SECRET": "hostile-secret", "CALLBACK_ALLOWED_HOSTS": "127.0.0.1", "CALLBACK_TIMEOUT": "2",
       "CALLBACK_RETRIES": "1"}
TIMEOUT = 2.0


@dataclass
class TricklingReceiver:
    """Answers each connection with a status line, then one header line a second, never ending its headers,
    and notes when the caller closes the connection."""

    attempts: list[tuple[float, float]] = field(default_factory=list)  # (connected, closed by the caller)
    connections: int = 0

    def start(self) -> TricklingReceiver:
        self.server = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def _serve(self) -> None:
        while True:
            connection, _ = self.server.accept()
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        connected = time.monotonic()
        self.connections += 1
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                for tick in range(150):  # a header line a second; the caller's close seen within 0.2 s
                    readable, _, _ = select.select([connection], [], [], 0.2)
                    if readable and not connection.recv(65536):
                        break  # the caller gave up and closed: the end of this attempt
                    if tick % 5 == 4:
                        connection.sendall(b"X-Slow: 1\r\n")
            except OSError:  # reset by the caller
                pass
        self.attempts.append((connected, time.monotonic()))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"


def test_a_trickling_receiver_is_cut_off_at_callback_timeout_logged_and_retried(stack_with) -> None:
    stack: Stack = stack_with(ENV, workers=1)
    maintenance = start_maintenance(stack)
    try:
        receiver = TricklingReceiver().start()
        job_id = stack.analyze({"data": [{"Income": 60000, "Age": 40}], "callback_url": receiver.url})
        assert stack.wait_job(job_id)["status"] == "finished"
        # the cleanup, queued while an attempt trickles, starts once that attempt is cut off
        wait_until(lambda: receiver.connections >= 1, 30, message="the first attempt to connect")
        settings = stack.settings
        cleanup = JSONQueue(settings.maintenance_queue_name, connection=stack.redis()).enqueue(
            jobstates.CLEANUP_FUNC, job_timeout=60)
        wait_until(lambda: cleanup.get_status(refresh=True) == "finished", 60, message="the cleanup")
        cleanup.refresh()
        assert cleanup.started_at is not None and cleanup.enqueued_at is not None
        delay = (cleanup.started_at - cleanup.enqueued_at).total_seconds()
        assert delay < TIMEOUT + 1.5, f"the cleanup started {delay:.1f}s late (documented: CALLBACK_TIMEOUT + 1 s)"
        wait_until(lambda: len(receiver.attempts) >= 2, 60, message="two callback attempts to end")
        for connected, closed in receiver.attempts:
            assert closed - connected < TIMEOUT + 1.0, f"an attempt lasted {closed - connected:.1f}s"
        log = wait_until(lambda: (text := maintenance_log(stack)).count("timed out after") >= 2 and text, 30,
                         message="both attempts' log lines")
        for attempt in (1, 2):
            assert f"callback of job {job_id} attempt {attempt} to {receiver.url} timed out after" in log, log
        assert "JobTimeoutException" not in log, log
    finally:
        maintenance.terminate()
        maintenance.wait(30)


@pytest.mark.parametrize("url", ["http://127.0.0.1/hook path", "http://127.0.0.1/hook\r\nX-Injected: 1",
                                 "http://127.0.0.1/hook\n2026-12-07 14:00:00,000 forged", "http://127.0.0.1/ho\tok",
                                 "http://127.0.0.1/ho\u2028ok", "http://127.0.0.1/h\u00e9"],
                         ids=["space", "crlf", "lf", "tab", "ls", "non-ascii"])
def test_a_callback_url_that_cannot_be_delivered_is_400_before_anything_is_enqueued(stack_with, url: str) -> None:
    stack: Stack = stack_with(ENV, workers=0)
    client = stack.redis()
    before = client.llen("rq:queue:shap-jobs"), client.llen("rq:queue:shap-jobs-callbacks")
    status, body, _ = stack.request("POST", "/analyze", {"callback_url": url})
    assert_refusal(status, body, 400, "callback_not_allowed")
    assert (client.llen("rq:queue:shap-jobs"), client.llen("rq:queue:shap-jobs-callbacks")) == before
