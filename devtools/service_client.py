"""The client surface every running service of the harness offers (whole service or lighter stack):
its base URL, its environment, requests with its API key, submitting an analysis and waiting for its end."""

from __future__ import annotations

import urllib.error
from typing import Any, ClassVar

import pandas as pd

from common import jobstates
from devtools.http import Answer, http
from devtools.waiting import wait_until


class ServiceClient:
    """Mixed into a dataclass that has `port` and `env` (the settings it runs with beyond the inherited ones)."""

    port: int
    env: dict[str, str]
    job_timeout: ClassVar[float] = 120  # default wait for a job to reach a terminal state, seconds

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        """The whole environment the service's processes run with."""
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """The API key header when the service runs with API_KEY set."""
        key = self.env.get("API_KEY")
        return {"X-API-KEY": key} if key else {}

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                **kwargs: Any) -> Answer:
        return http(method, self.base + path, body, headers={**self.headers(), **(headers or {})}, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Answer:
        """A GET that answers (0, None, {}) while nothing listens (a service starting or restarting)."""
        try:
            return self.request("GET", path, **kwargs)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None, {}

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Answer:
        return self.request("PUT", path, **kwargs)

    def upload_csv(self, name: str, data: bytes | pd.DataFrame, query: str = "") -> Answer:
        """PUT /datasets/<name><query> with `data` (CSV bytes, or a frame written as CSV) as a CSV body; the
        answer as it came (refusals included)."""
        body = data.to_csv(index=False).encode() if isinstance(data, pd.DataFrame) else data
        return self.request("PUT", f"/datasets/{name}{query}", raw=body, headers={"Content-Type": "text/csv"})

    def uploaded(self, name: str, data: bytes | pd.DataFrame, query: str = "") -> dict[str, Any]:
        """`upload_csv`, which must store the dataset (201 created or 200 replaced); its answer."""
        status, answer, _ = self.upload_csv(name, data, query)
        assert status in (200, 201), answer
        return answer

    def analyze(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
        """Submit an analysis; the id of the accepted (202) job, or of the finished job whose stored result
        answers it (200, `"cached": true`)."""
        status, answer, _ = self.post("/analyze", body, headers=headers)
        assert status == 202 or (status == 200 and answer.get("cached") is True), answer
        return str(answer["job_id"])

    def wait_job(self, job_id: str, timeout: float | None = None, headers: dict[str, str] | None = None) -> dict:
        """Long-poll /job_status until the job is in one of RQ's terminal states; its last answer."""
        def ended() -> dict | None:
            status, answer, _ = self.get(f"/job_status/{job_id}?wait=10", headers=headers)
            return answer if status == 200 and answer["status"] in jobstates.TERMINAL else None

        return wait_until(ended, self.job_timeout if timeout is None else timeout, interval=0.02,
                          message=f"job {job_id} to end")
