"""`Client`: the service's HTTP API as Python calls, with retries on 503 and on lost connections."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from shap_client import errors
from shap_client.job import Job

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_TIMEOUT = 60.0  # seconds; a long poll asks the service to wait at most 30


class Client:
    """One service. `api_key` goes in X-API-KEY (None when the service has no API_KEY).

    A 503 (the service's Redis is unreachable; nothing was enqueued) or a 429 (too many plot renders
    waiting) is retried up to `retries` times,
    after the service's Retry-After or an exponential backoff (`backoff` * 2**attempt, at most
    `max_backoff` seconds). A request that could not connect is retried the same way; a request lost
    after it was sent is retried only when repeating it is harmless (GET, PUT, DELETE)."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = 5, backoff: float = 0.5, max_backoff: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"X-API-KEY": api_key} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------------------

    def _pause(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_backoff)
        return min(self.backoff * 2**attempt, self.max_backoff)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; returns the parsed JSON body of a 2xx answer, raises the typed error otherwise."""
        response = self.send(method, path, **kwargs)
        return response.json() if response.content else None

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; returns the 2xx response as it came (an image, say), raises the typed error otherwise."""
        idempotent = method in ("GET", "PUT", "DELETE", "HEAD")
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure: errors.ShapServiceError = errors.ServiceUnavailable(f"cannot connect: {exc}")
                retry_after = None
            except httpx.TransportError as exc:
                if not idempotent:
                    raise errors.ServiceUnavailable(f"the connection was lost after the request was sent "
                                                    f"({exc}); it may have been carried out") from exc
                failure, retry_after = errors.ServiceUnavailable(f"connection lost: {exc}"), None
            else:
                if response.status_code < 400:
                    return response
                failure = errors.from_response(response.status_code, _json_or_text(response))
                if response.status_code not in errors.RETRIED:  # 429 and 503 pass by themselves
                    raise failure
                retry_after = response.headers.get("Retry-After")
                if isinstance(failure, errors.TooManyRequests) and retry_after and retry_after.strip().isdigit():
                    failure.retry_after = float(retry_after)
            if attempt >= self.retries:
                raise failure
            time.sleep(self._pause(attempt, retry_after))
            attempt += 1

    # --- the API --------------------------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        return self.request("GET", "/ping")

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health")

    def whoami(self) -> dict[str, Any]:
        """The key's role: {"role": "admin" | "analyst", "key_required": bool}."""
        return self.request("GET", "/whoami")

    def datasets(self) -> list[dict[str, Any]]:
        return self.request("GET", "/datasets")["datasets"]

    def metadata(self, dataset: str = "default") -> dict[str, Any]:
        return self.request("GET", "/metadata", params={"dataset": dataset})

    def upload_dataset(self, name: str, data: pd.DataFrame | str | os.PathLike[str], *,
                       id_columns: Iterable[str] = (), exclude_columns: Iterable[str] = (),
                       default_target: str | None = None, labels: Mapping[str, str] | None = None,
                       delimiter: str | None = None, decimal: str | None = None) -> dict[str, Any]:
        """PUT /datasets/<name> from a DataFrame (sent as CSV, without its index) or a CSV file's path;
        `labels` maps column names to readable names (summaries and `label` fields use them). The service
        detects a file's delimiter (comma, semicolon, tab) and decimal comma; `delimiter` (",", ";", "\t")
        and `decimal` ("." or ",") name them when it cannot tell. Returns the service's answer (`version`,
        `rows`, `columns`, `labels`, `created`, `csv`: how it read the file)."""
        if isinstance(data, str | os.PathLike):
            body = Path(data).read_bytes()
        else:
            buffer = io.StringIO()
            data.to_csv(buffer, index=False)
            body = buffer.getvalue().encode()
        params = {"id_columns": ",".join(id_columns), "exclude_columns": ",".join(exclude_columns)}
        if default_target:
            params["default_target"] = default_target
        if labels:
            params["labels"] = json.dumps(dict(labels))
        params |= {key: value for key, value in (("delimiter", delimiter), ("decimal", decimal)) if value}
        return self.request("PUT", f"/datasets/{name}", content=body, params={k: v for k, v in params.items() if v},
                            headers={"Content-Type": "text/csv"})

    def set_labels(self, name: str, labels: Mapping[str, str]) -> dict[str, Any]:
        """PUT /datasets/<name>/labels: replace a stored dataset's labels (its data, models and version stay;
        `{}` removes them). Returns the service's answer (`labels`)."""
        return self.request("PUT", f"/datasets/{name}/labels", json=dict(labels))

    def analyze(self, target_variable: str | None = None, *, dataset: str = "default",
                analysis_type: str = "correlation", demographic_filters: Iterable[str] = (),
                sample_size: int | None = None, data: pd.DataFrame | list[Mapping[str, Any]] | None = None,
                callback_url: str | None = None, reuse: bool = True, exclude_columns: Iterable[str] = (),
                cohorts: Mapping[str, Iterable[str]] | None = None,
                scenarios: Iterable[Mapping[str, Any]] | None = None, positive_class: str | None = None) -> Job:
        """POST /analyze; returns the queued `Job` at once (call `.wait()` or `.result()` on it). With
        `reuse=False` the service computes afresh even when an identical analysis's result is stored;
        `exclude_columns` leaves columns out of the features (e.g. a likely leak the warnings name).
        `cohorts` ({name: [filters]}) asks for analysis_type "comparison", `scenarios` ([{"name", "set",
        "add", "multiply"}]) for "what_if", unless `analysis_type` names it. `analysis_type="interactions"`
        adds SHAP interaction values (`AnalysisResult.interaction_pairs`, `.interaction_values`,
        `.main_effects`). `positive_class` names a two-class target's class whose log-odds the SHAP values are."""
        body: dict[str, Any] = {"analysis_type": analysis_type, "dataset": dataset,
                                "demographic_filters": list(demographic_filters)}
        if target_variable is not None:
            body["target_variable"] = target_variable
        if sample_size is not None:
            body["sample_size"] = sample_size
        if data is not None:
            body["data"] = data if isinstance(data, list) else _records(data)
        if callback_url is not None:
            body["callback_url"] = callback_url
        if not reuse:
            body["reuse"] = False
        if exclude_columns:
            body["exclude_columns"] = list(exclude_columns)
        if positive_class is not None:
            body["positive_class"] = positive_class
        body.update(_question(analysis_type, cohorts, scenarios))
        answer = self.request("POST", "/analyze", json=body)
        return Job(self, answer["job_id"])

    def job(self, job_id: str) -> Job:
        """A handle on a job submitted earlier (by id)."""
        return Job(self, job_id)


def _question(analysis_type: str, cohorts: Mapping[str, Iterable[str]] | None,
              scenarios: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    """The body's fields of a comparison or what-if question; the default analysis_type follows them."""
    fields: dict[str, Any] = {}
    if cohorts is not None:
        fields["cohorts"] = {name: list(filters) for name, filters in cohorts.items()}
        fields["analysis_type"] = "comparison" if analysis_type == "correlation" else analysis_type
    if scenarios is not None:
        fields["scenarios"] = [dict(item) for item in scenarios]
        fields["analysis_type"] = "what_if" if analysis_type == "correlation" else analysis_type
    return fields


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN becomes null (pandas' own JSON writer does that)."""
    return json.loads(frame.to_json(orient="records"))


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
