"""Completion callbacks through the real web, Redis, an analysis worker, the maintenance worker (which
delivers them, with RQ's scheduler for retries) and a real HTTP receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devtools import wide_table
from devtools.environment import REPO
from devtools.redis_server import RedisServer
from devtools.stack import Stack, stack_env
from devtools.waiting import wait_until

SECRET = "callback-test-secret"  # noqa: S105 (a test key)
ENV = {"CALLBACK_SECRET": SECRET, "CALLBACK_ALLOWED_HOSTS": "127.0.0.1", "CALLBACK_RETRIES": "3",
       "CALLBACK_TIMEOUT": "2"}


@dataclass
class Receiver:
    """An HTTP server on loopback that answers each POST with the next of `answers` (then 200)."""

    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/shap?source=test"

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def callback_stack(redis_server: RedisServer) -> Iterator[Stack]:
    running = Stack(redis_server, env=dict(ENV)).start_web().start_workers(1)
    maintenance = start_maintenance(running)
    yield running
    maintenance.terminate()
    maintenance.wait(30)
    running.stop()


def start_maintenance(stack: Stack) -> subprocess.Popen:
    """The maintenance worker, which serves the callback queue (with RQ's scheduler for retries)."""
    log = open(stack.redis_server.directory / "maintenance.log", "ab")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "worker.maintenance"], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, env=stack_env(stack.redis_server.url, stack.env))


def maintenance_log(stack: Stack) -> str:
    return (stack.redis_server.directory / "maintenance.log").read_text(errors="replace")


def signed(headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Signature", ""), expected)


def test_a_receiver_that_fails_twice_gets_the_signed_callback_on_the_third_attempt(callback_stack: Stack):
    """Two 500s, then 200: three signed POSTs of {job_id, status, status_url}, each attempt logged."""
    receiver = Receiver(answers=[500, 500]).start()
    job_id = callback_stack.analyze({"data": [{"Income": 60000, "Age": 40}], "callback_url": receiver.url})
    wait_until(lambda: len(receiver.received) >= 3, 60, message="three callback attempts")
    assert callback_stack.wait_job(job_id)["status"] == "finished"
    expected = {"job_id": job_id, "status": "finished",
                "status_url": f"{callback_stack.base}/job_status/{job_id}"}
    assert receiver.bodies() == [expected] * 3
    assert all(signed(headers, body) for headers, body in receiver.received)
    def logged_success() -> str | None:  # logged once its answer is read, just after the receiver counted it
        text = maintenance_log(callback_stack)
        return text if ": HTTP 200 in " in text else None

    log = wait_until(logged_success, 30, message="the third attempt's log line")
    for line in ("attempt 1 to", "attempt 2 to", "attempt 3 to"):
        assert f"callback of job {job_id} {line}" in log
    assert log.count(": HTTP 500 in ") == 2 and log.count(": HTTP 200 in ") == 1


def test_a_failed_job_is_reported_failed(redis_server: RedisServer):
    """A job that fails in the worker (here: past JOB_TIMEOUT while it trains) sends status failed."""
    running = Stack(redis_server, env={**ENV, "JOB_TIMEOUT": "1"}).start_web().start_workers(1)
    maintenance = start_maintenance(running)
    try:
        receiver = Receiver().start()
        job_id = running.analyze({**wide_table.slow_analysis(running), "callback_url": receiver.url})
        wait_until(lambda: receiver.received, 120, message="the callback")
        assert receiver.bodies()[0]["status"] == "failed"
        assert running.wait_job(job_id)["status"] == "failed"
    finally:
        maintenance.terminate()
        maintenance.wait(30)
        running.stop()


@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://127.0.0.1.evil.example/hook", "ftp://127.0.0.1/x",
                                 "http://user:pw@127.0.0.1/x", "http://127.0.0.1:99999/x", "127.0.0.1/hook"])
def test_a_callback_url_the_operator_did_not_allow_is_400_and_nothing_is_enqueued(callback_stack: Stack, url: str):
    """Other hosts, schemes, user info and broken URLs are refused before anything is enqueued."""
    client = callback_stack.redis()
    before = client.llen("rq:queue:shap-jobs"), client.llen("rq:queue:shap-jobs-callbacks")
    status, body, _ = callback_stack.request("POST", "/analyze", {"callback_url": url})
    assert (status, body["success"], body["code"]) == (400, False, "callback_not_allowed"), body
    assert (client.llen("rq:queue:shap-jobs"), client.llen("rq:queue:shap-jobs-callbacks")) == before


def test_without_callback_settings_a_callback_url_is_refused(web_only: Stack):
    """A service without CALLBACK_SECRET and CALLBACK_ALLOWED_HOSTS refuses callback_url with a 400."""
    status, body, _ = web_only.request("POST", "/analyze", {"callback_url": "http://127.0.0.1/hook"})
    assert (status, body["code"]) == (400, "callback_not_allowed")
    assert "CALLBACK_ALLOWED_HOSTS" in body["error"]
