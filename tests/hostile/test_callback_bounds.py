"""Issue 22, finding 5: a receiver that sends a status line and then one header line every few seconds
kept one callback attempt running until RQ's JobTimeout (15 s with CALLBACK_TIMEOUT 5): not retried, no
attempt logged, the cleanup on the same worker late. Each attempt is now bounded in total (connect,
headers and body) by CALLBACK_TIMEOUT, logged and retried; a URL that can never be delivered is a 400.
The host's name lookup is inside that bound too: a name server that never answers held an attempt until the
system resolver gave up (30 s here), past RQ's JobTimeout, unlogged and not retried."""

from __future__ import annotations

import random
import re
import select
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from common import jobstates
from common.rqtypes import JSONQueue
from devtools.environment import REPO
from devtools.stack import Stack, stack_env
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


@dataclass
class SilentNameServer:
    """A DNS server that reads every query and answers none: a UDP socket on port 53 of a loopback address of its
    own (127.x.y.z, so that tests running side by side do not meet), counting the queries it is sent."""

    queries: int = 0

    def start(self) -> SilentNameServer:
        for _ in range(50):
            self.address = f"127.{random.randrange(1, 255)}.{random.randrange(1, 255)}.{random.randrange(2, 255)}"
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self.sock.bind((self.address, 53))
                break
            except OSError:  # taken, or port 53 not ours to bind (not root)
                self.sock.close()
        else:
            pytest.skip("no loopback address with port 53 free to bind (the test binds it as root)")
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        while True:
            self.sock.recvfrom(4096)
            self.queries += 1


def start_maintenance_resolving_with(stack: Stack, resolv_conf: Path) -> subprocess.Popen:
    """The maintenance worker in a mount namespace of its own, where /etc/resolv.conf is `resolv_conf`: the
    system resolver (glibc's getaddrinfo) of that process alone asks the name server it names."""
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("mount namespaces are not available (unshare --mount), so the resolver cannot be pointed")
    log = open(stack.redis_server.directory / "maintenance.log", "ab")  # noqa: SIM115
    mount_then_run = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", mount_then_run,
                             str(resolv_conf), sys.executable, "-m", "worker.maintenance"], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, env=stack_env(stack.redis_server.url, stack.env))


def test_a_callback_host_whose_name_never_resolves_is_cut_off_at_callback_timeout_logged_and_retried(
        stack_with, tmp_path: Path) -> None:
    """The callback names a host the allow-list names, whose name server never answers (the system resolver
    would wait 30 s): each attempt ends at CALLBACK_TIMEOUT, is logged as timed out, and is retried."""
    server = SilentNameServer().start()
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text(f"nameserver {server.address}\noptions timeout:30 attempts:1\n")
    stack: Stack = stack_with({**ENV, "CALLBACK_ALLOWED_HOSTS": "127.0.0.1,hook.hostile.test"}, workers=1)
    maintenance = start_maintenance_resolving_with(stack, resolv_conf)
    try:
        url = "http://hook.hostile.test:9/hook"
        job_id = stack.analyze({"data": [{"Income": 60000, "Age": 40}], "callback_url": url})
        assert stack.wait_job(job_id)["status"] == "finished"
        log = str(wait_until(lambda: (text := maintenance_log(stack)).count("timed out after") >= 2 and text, 60,
                             message="both attempts' log lines"))
        for attempt in (1, 2):
            line = next(x for x in log.splitlines() if f"callback of job {job_id} attempt {attempt} to {url} "
                        "timed out after" in x)
            took = float(re.search(r"timed out after ([0-9.]+)s", line).group(1))  # type: ignore[union-attr]
            assert took < TIMEOUT + 1.0, line
            assert "lookup of hook.hostile.test" in line, line
        assert "JobTimeoutException" not in log, log
        assert server.queries >= 2, "the lookups never reached the silent name server"
    finally:
        maintenance.terminate()
        maintenance.wait(30)
