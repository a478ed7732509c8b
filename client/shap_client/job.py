"""`Job`: one submitted analysis; its status, a long-polling wait, its result, cancelling it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from shap_client import errors
from shap_client.result import AnalysisResult

if TYPE_CHECKING:
    import shap

    from shap_client.client import Client

TERMINAL = frozenset({"finished", "failed", "stopped", "canceled"})
MAX_SERVER_WAIT = 30  # the most seconds one GET /job_status?wait= may ask for


class Job:
    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.id = job_id
        self._last: dict[str, Any] | None = None
        self._result: AnalysisResult | None = None

    def __repr__(self) -> str:
        state = self._last["status"] if self._last else "unknown"
        return f"Job({self.id!r}, status={state!r})"

    @property
    def status_path(self) -> str:
        return f"/job_status/{self.id}"

    def _poll(self, wait: float = 0) -> dict[str, Any]:
        params = {"wait": f"{wait:g}"} if wait > 0 else None
        self._last = answer = self.client.request("GET", self.status_path, params=params)
        return answer

    def status(self) -> str:
        """The job's state now: queued, started, deferred, scheduled, finished, failed, stopped, canceled."""
        return self._poll()["status"]

    @property
    def progress(self) -> dict[str, Any]:
        """`{"stage", "percent"}` as of the last status read."""
        return dict((self._last or self._poll())["progress"])

    def wait(self, timeout: float | None = None) -> str:
        """Long-poll until the job ends (the service answers the moment it does); returns the final state.
        Raises WaitTimeout when `timeout` seconds pass first (None: wait as long as it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        answer = self._poll()
        while answer["status"] not in TERMINAL:
            left = MAX_SERVER_WAIT if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise errors.WaitTimeout(f"job {self.id} is still {answer['status']} after {timeout}s",
                                         code="wait_timeout")
            answer = self._poll(wait=max(1, min(MAX_SERVER_WAIT, int(left))))
        return answer["status"]

    def result(self, timeout: float | None = None) -> AnalysisResult:
        """The finished job's result (waits for it first). Raises JobFailed with the service's error type
        as `code` when the job failed, JobCanceled when it was canceled or stopped."""
        if self._result is not None:
            return self._result
        state = self.wait(timeout)
        answer = self._last or {}
        if state == "failed":
            error = answer.get("error") or {}
            raise errors.JobFailed(f"job {self.id} failed: {error.get('message', 'no message')}",
                                   code=error.get("type"), details=error)
        if state != "finished":
            raise errors.JobCanceled(f"job {self.id} ended {state} and has no result", code=state)
        self._result = AnalysisResult.from_json(answer["result"])
        return self._result

    def explanation(self, data: Any = None, timeout: float | None = None) -> shap.Explanation:
        """The result as a `shap.Explanation` (e.g. `shap.plots.beeswarm(job.explanation())`)."""
        return self.result(timeout).explanation(data)

    def cancel(self) -> str:
        """DELETE /job_status/<id>: a queued job ends `canceled`, a running one `stopped`. Returns the state
        the service reports; raises Conflict (409) when the job had already ended."""
        self._last = answer = self.client.request("DELETE", self.status_path)
        return answer["status"]
