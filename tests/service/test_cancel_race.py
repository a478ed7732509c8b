"""DELETE /job_status/<id> raced against idle workers that pop the job at once: the answer is what happened.

Before issue 20 a cancel that landed after a worker had popped the job (it was in RQ's intermediate queue,
still `queued` in its hash) answered 200 "canceled" and the job then ran and finished, without its callback.
Each round here enqueues a short analysis (with a completion callback) onto two idle forking workers and
cancels it at once, so a share of the cancels land in that window; then every answer is checked against
how the job really ended."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devtools.redis_server import RedisServer
from devtools.rq_state import job_hash
from devtools.stack import Stack
from devtools.waiting import wait_until
from tests.service.test_callbacks import ENV, Receiver, start_maintenance

ROUNDS = 200
TIME_BUDGET_S = 100  # the rounds stop by themselves when this has passed (at least 50 rounds run)
QUICK = {"target_variable": "Mortgage_Approvals", "data": [{"Income": 60000, "Age": 40}], "reuse": False}

pytestmark = pytest.mark.slow


@dataclass
class Round:
    job_id: str
    code: int
    answered: str

    def mismatch(self, ended: str, hash_: dict[str, str], has_result: bool) -> str | None:
        """Why the DELETE answer lied about how the job ended, or None when it told the truth."""
        if self.code == 200 and self.answered == "canceled":
            ran = bool(hash_.get("started_at") or hash_.get("worker_name")) or has_result
            return None if ended == "canceled" and not ran else (
                f"answered canceled, ended {ended}, started_at={hash_.get('started_at')!r}, "
                f"worker_name={hash_.get('worker_name')!r}, result={has_result}")
        if self.code == 200:
            return None if ended == self.answered and not has_result else f"answered {self.answered}, ended {ended}"
        if self.code == 409:
            return None if ended in ("finished", "failed") else f"answered 409, ended {ended}"
        return None if self.code == 202 else f"answered {self.code} {self.answered}"


@pytest.fixture
def racing(redis_server: RedisServer) -> Iterator[tuple[Stack, Receiver]]:
    running = Stack(redis_server, env=dict(ENV)).start_web().start_workers(2)
    maintenance = start_maintenance(running)
    yield running, Receiver().start()
    maintenance.terminate()
    maintenance.wait(30)
    running.stop()


def test_cancels_racing_workers_answer_what_really_happens(racing: tuple[Stack, Receiver]):
    """Hundreds of cancels against workers popping the job: no answer differs from the job's real end, a
    canceled job never ran, and a callback is sent for exactly the jobs that really finished or failed."""
    stack, receiver = racing
    stack.wait_job(stack.analyze(QUICK))  # the model is trained and kept once; each round is then short
    rounds, deadline = [], time.monotonic() + TIME_BUDGET_S
    while len(rounds) < ROUNDS and (len(rounds) < 50 or time.monotonic() < deadline):
        job_id = stack.analyze({**QUICK, "callback_url": receiver.url})
        code, body, _ = stack.request("DELETE", f"/job_status/{job_id}")
        rounds.append(Round(job_id, code, str(body.get("status", body.get("code")))))
    client, lies, ended = stack.redis(), [], {}
    for one in rounds:
        ended[one.job_id] = stack.wait_job(one.job_id, timeout=60)["status"]
        why = one.mismatch(ended[one.job_id], job_hash(client, one.job_id),
                           bool(client.exists(f"shap:result:{one.job_id}")))
        if why:
            lies.append((one.job_id, why))
    assert not lies, f"{len(lies)} of {len(rounds)} DELETE answers differ from the job's end: {lies[:5]}"
    reported = {job_id for job_id, status in ended.items() if status in ("finished", "failed")}
    wait_until(lambda: {b["job_id"] for b in receiver.bodies()} >= reported, 60, message="callbacks")
    time.sleep(1)  # a callback for a canceled or stopped job would arrive about now
    assert {b["job_id"] for b in receiver.bodies()} == reported
    # Which side wins each round depends on the machine's timing: on a quiet CI machine two idle workers took
    # every job before its DELETE arrived (all 200 answered "stopped", truthfully). The assertions above hold
    # whatever the mix; how often the race was really run (a cancel before the take, or between the pop and the
    # take) is reported, not required.
    kinds = {(one.code, one.answered) for one in rounds}
    gap = "was canceled before it started; not run" in stack.worker_logs()
    if (200, "canceled") not in kinds or not gap:
        warnings.warn(f"the race was only partly exercised: answers {sorted(kinds)}, a cancel between pop and take "
                      f"{'seen' if gap else 'not seen'}", stacklevel=1)
