"""`Job`: one submitted analysis; its status, a long-polling wait, its result, cancelling it."""

from __future__ import annotations

import importlib.util
import time
from typing import TYPE_CHECKING, Any

from shap_client import errors
from shap_client.result import AnalysisResult, _numbers

if TYPE_CHECKING:
    import pandas as pd
    import shap

    from shap_client.client import Client

def _has_pyarrow() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


TERMINAL = frozenset({"finished", "failed", "stopped", "canceled"})
MAX_SERVER_WAIT = 30  # the most seconds one GET /job_status?wait= may ask for
QUERY_NAMES = {"output_class": "class", "with_feature": "with"}  # plot parameters that are Python keywords


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

    def _poll(self, wait: float = 0, fields: str | None = None) -> dict[str, Any]:
        params = ({"wait": f"{wait:g}"} if wait > 0 else {}) | ({"fields": fields} if fields else {})
        self._last = answer = self.client.request("GET", self.status_path, params=params or None)
        return answer

    def status(self) -> str:
        """The job's state now: queued, started, deferred, scheduled, finished, failed, stopped, canceled."""
        return self._poll()["status"]

    @property
    def progress(self) -> dict[str, Any]:
        """`{"stage", "percent"}` as of the last status read."""
        return dict((self._last or self._poll())["progress"])

    def wait(self, timeout: float | None = None, fields: str | None = None) -> str:
        """Long-poll until the job ends (the service answers the moment it does); returns the final state.
        Raises WaitTimeout when `timeout` seconds pass first (None: wait as long as it takes). `fields`: the
        result fields the final answer carries (all when None)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # the first read waits too: a job just submitted has seldom ended, and a read that answers "queued"
        # at once only costs a round trip before the long poll (timeout under a second: one plain read)
        first = MAX_SERVER_WAIT if timeout is None else max(0, min(MAX_SERVER_WAIT, int(timeout)))
        answer = self._poll(wait=first, fields=fields)
        while answer["status"] not in TERMINAL:
            left = MAX_SERVER_WAIT if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise errors.WaitTimeout(f"job {self.id} is still {answer['status']} after {timeout}s",
                                         code="wait_timeout")
            answer = self._poll(wait=max(1, min(MAX_SERVER_WAIT, int(left))), fields=fields)
        return answer["status"]

    def result(self, timeout: float | None = None) -> AnalysisResult:
        """The finished job's result (waits for it first). Raises JobFailed with the service's error type
        as `code` when the job failed, JobCanceled when it was canceled or stopped."""
        if self._result is not None:
            return self._result
        self._result = AnalysisResult.from_json(self._finished(timeout)["result"])
        return self._result

    def _finished(self, timeout: float | None, fields: str | None = None) -> dict[str, Any]:
        """The finished job's status answer (with `fields` of its result); JobFailed or JobCanceled otherwise."""
        state = self.wait(timeout, fields)
        answer = self._last or {}
        if state == "failed":
            error = answer.get("error") or {}
            raise errors.JobFailed(f"job {self.id} failed: {error.get('message', 'no message')}",
                                   code=error.get("type"), details=error)
        if state != "finished":
            raise errors.JobCanceled(f"job {self.id} ended {state} and has no result", code=state)
        return answer

    def rows(self, columns: str | list[str] | None = None, *, sort: str | None = None, order: str = "asc",
             sample: int | None = None, seed: int = 0, offset: int = 0, limit: int | None = None,
             timeout: float | None = None) -> pd.DataFrame:
        """The explained rows as one DataFrame, read as Arrow from GET /job_status/<id>/rows (the `arrow` extra:
        pyarrow); no JSON matrix is fetched or parsed. Columns: row, id columns, target, prediction,
        raw_prediction, predicted_class, probability (or probability_<class>), shap_<feature>, value_<feature>;
        `columns` takes names and prefixes such as "shap_*" (default: all but value_*); `sort`/`order`,
        `sample`/`seed` (a uniform sample, the same for a seed), `offset`/`limit` cut the rows."""
        import pyarrow.ipc as ipc  # the `arrow` extra

        self._finished(timeout, fields="success")
        query: dict[str, Any] = {"order": order, "seed": seed, "offset": offset}
        named = ",".join(columns) if isinstance(columns, list) else columns
        query |= {k: v for k, v in {"columns": named, "sort": sort, "sample": sample, "limit": limit}.items()
                  if v is not None}
        response = self.client.send("GET", f"{self.status_path}/rows", params=query,
                                    headers={"Accept": "application/vnd.apache.arrow.stream"})
        return ipc.open_stream(response.content).read_all().to_pandas().set_index("row")

    def feature_values(self, timeout: float | None = None) -> pd.DataFrame:
        """Every explained row's feature values (GET /job_status/<id>/feature_values; waits for the result
        first): one column per feature, rows aligned with the result's `rows` and `shap_values`; categorical
        values as strings, missing ones NaN/None."""
        import pandas as pd  # the `pandas` extra

        result = self.result(timeout)
        answer = self.client.request("GET", f"{self.status_path}/feature_values")
        return pd.DataFrame(answer["values"], columns=answer["features"], index=result.shap_values.index)

    def explanation(self, data: Any = None, timeout: float | None = None) -> shap.Explanation:
        """The result as a `shap.Explanation` (e.g. `shap.plots.beeswarm(job.explanation())`), its data the
        rows' feature values: `data` when given, else the service's (`feature_values()`; from a service
        without them, only each row's top contributors' values)."""
        if data is None and _has_pyarrow():
            return self._arrow_explanation(timeout)
        result = self.result(timeout)
        if data is None:
            try:
                data = self.feature_values()
            except errors.NotFound:  # a service (or a result) from before feature values were stored
                data = None
        return result.explanation(data)

    def _arrow_explanation(self, timeout: float | None) -> shap.Explanation:
        """explanation() from /rows: SHAP values and feature values as Arrow; the base value, features and labels
        from the result's small fields."""
        import numpy as np
        import shap

        head = self._finished(timeout, fields="base_value,feature_importance,model")["result"]
        frame = self.rows("predicted_class,shap_*,value_*") if head["model"]["task"] == "multiclass" \
            else self.rows("shap_*,value_*")
        features = list(head["model"]["features"])
        labels = {item["feature"]: item.get("label") or item["feature"] for item in head["feature_importance"]}
        base = head["base_value"]
        bases = frame["predicted_class"].map(lambda c: base[str(c)]).to_numpy(dtype=float) \
            if isinstance(base, dict) else np.full(len(frame), float(base))
        values = frame[[f"value_{f}" for f in features]].set_axis(features, axis=1)
        return shap.Explanation(values=frame[[f"shap_{f}" for f in features]].to_numpy(dtype=float),
                                base_values=bases, data=_numbers(values),
                                feature_names=[labels.get(f, f) for f in features],
                                display_data=values.to_numpy(dtype=object))

    def plot(self, kind: str, *, timeout: float | None = 120, **params: Any) -> bytes:
        """A SHAP plot drawn by the service (GET /job_status/<id>/plots/<kind>) as PNG or SVG bytes: `kind`
        bar, beeswarm, waterfall (row=), dependence (feature=, color=), heatmap or interaction (feature=,
        with_feature=: the query's `with`); format="svg", max_display=N, output_class= (the query's `class`).
        Waits for the result and the drawing; raises
        WaitTimeout after `timeout` seconds (None: as long as it takes), InvalidRequest on a bad parameter."""
        self.result(timeout)
        query = {QUERY_NAMES.get(name, name): str(value) for name, value in params.items()}
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = MAX_SERVER_WAIT if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise errors.WaitTimeout(f"the {kind} plot of job {self.id} is not drawn after {timeout}s",
                                         code="wait_timeout")
            wait = max(1, min(MAX_SERVER_WAIT, int(left)))
            response = self.client.send("GET", f"{self.status_path}/plots/{kind}", params={**query, "wait": wait})
            if response.status_code == 200:
                return response.content

    def cancel(self) -> str:
        """DELETE /job_status/<id>: a queued job ends `canceled`, a running one `stopped`. Returns the state
        the service reports; raises Conflict (409) when the job had already ended."""
        self._last = answer = self.client.request("DELETE", self.status_path)
        return answer["status"]
