"""shap_client against the real web, Redis and forking workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import matplotlib
import numpy as np
import pytest
import shap
from shap_client import (
    Client,
    Conflict,
    Forbidden,
    InvalidRequest,
    JobFailed,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
)

from devtools import wide_table
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from store import default_dataset

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[Client]:
    with Client(stack.base, stack.env.get("API_KEY")) as made:
        yield made


def test_a_result_comes_back_as_aligned_pandas_objects(client: Client):
    """importance, rows and shap_values are DataFrames; shap_values rows match rows; SHAP is additive."""
    job = client.analyze("Mortgage_Approvals", demographic_filters=["Income > 50000"], sample_size=200)
    result = job.result(timeout=180)
    assert list(result.importance.columns) == ["feature", "importance", "label"]
    assert (result.importance["label"] == result.importance["feature"]).all()  # the built-in table has no labels
    assert result.importance["feature"].iloc[0] == "Income"
    assert len(result.shap_values) == len(result.rows) == 200
    assert result.shap_values.index.equals(result.rows.index)
    total = result.base_values() + result.shap_values.sum(axis=1).to_numpy()
    assert np.max(np.abs(total - result.rows["raw_prediction"].to_numpy())) < 1e-6


def test_the_explanation_feeds_shap_plots(client: Client):
    """job.explanation() is a shap.Explanation that shap.plots.beeswarm draws."""
    job = client.analyze("Mortgage_Approvals", sample_size=100)
    explanation = job.explanation(timeout=180)
    assert isinstance(explanation, shap.Explanation)
    assert explanation.values.shape == (100, len(job.result().shap_values.columns))
    shap.plots.beeswarm(explanation, show=False)


def test_an_uploaded_frame_and_file_are_analyzed(client: Client, tmp_path: Path):
    """upload_dataset takes a DataFrame or a CSV path; the same bytes give the same version."""
    frame = default_dataset.generate(rows=300, seed=7)
    options = {"id_columns": ["zip_code"], "exclude_columns": ["latitude", "longitude"],
               "default_target": "Mortgage_Approvals"}
    first = client.upload_dataset("client-frame", frame, **options)
    path = tmp_path / "same.csv"
    frame.to_csv(path, index=False)
    again = client.upload_dataset("client-frame", path, **options)
    assert (first["created"], again["created"], again["version"]) == (True, False, first["version"])
    assert client.analyze(dataset="client-frame").wait(180) == "finished"


def test_service_errors_raise_typed_exceptions_with_their_code(client: Client):
    """400 is InvalidRequest, 404 NotFound, 409 Conflict; each carries the service's code."""
    with pytest.raises(InvalidRequest) as invalid:
        client.analyze("No_Such_Column")
    assert invalid.value.status == 400 and invalid.value.code
    with pytest.raises(NotFound) as missing:
        client.job("no-such-job").status()
    assert missing.value.code == "not_found"
    finished = client.analyze(data=[{"Income": 60000, "Age": 40}])
    finished.wait(180)
    with pytest.raises(Conflict) as conflict:
        finished.cancel()
    assert conflict.value.code == "job_already_ended"


def test_a_failed_job_raises_job_failed_with_its_error_type(redis_server: RedisServer):
    """A job that fails in the worker (past JOB_TIMEOUT, training) raises JobFailed with the service's error type."""
    running = Stack(redis_server, env={"JOB_TIMEOUT": "1"}).start_web().start_workers(1)
    try:
        body = wide_table.slow_analysis(running)
        with Client(running.base) as client:
            job = client.analyze(body["target_variable"], dataset=body["dataset"], reuse=False)
            with pytest.raises(JobFailed) as failed:
                job.result(timeout=120)
        reported = running.request("GET", f"/job_status/{job.id}")[1]["error"]
        assert (failed.value.code, failed.value.details) == (reported["type"], reported)
    finally:
        running.stop()


def test_503_is_retried_until_redis_returns(redis_server: RedisServer):
    """While Redis is down the web answers 503 + Retry-After; the client retries and succeeds once it is back."""
    web = Stack(redis_server).start_web()
    try:
        with Client(web.base, retries=0) as impatient, Client(web.base, retries=40, max_backoff=0.5) as patient:
            redis_server.stop()
            with pytest.raises(ServiceUnavailable) as down:
                impatient.datasets()
            assert (down.value.status, down.value.code) == (503, "redis_unavailable")
            threading.Timer(1.0, redis_server.start).start()
            assert any(d["name"] == "default" for d in patient.datasets())
    finally:
        web.stop()


def test_feature_values_and_plots_come_from_the_service(client: Client):
    """job.feature_values() aligns every feature's values with the rows; explanation() uses them, so every
    row has all its values (not only its top contributors'); job.plot() returns the service's image."""
    job = client.analyze("Mortgage_Approvals", sample_size=50)
    values = job.feature_values(timeout=180)
    result = job.result()
    assert list(values.columns) == list(result.shap_values.columns) and values.index.equals(result.rows.index)
    assert values.loc[0, "Income"] == next(c["value"] for c in result.rows.loc[0, "top_contributors"]
                                           if c["feature"] == "Income")
    explanation = job.explanation()
    numeric = [i for i, name in enumerate(values.columns) if values[name].dtype.kind == "f"]
    assert not np.isnan(explanation.data[:, numeric]).any()
    assert job.plot("bar", max_display=5).startswith(b"\x89PNG")
    assert b"<svg" in job.plot("waterfall", row=0, format="svg")[:2000]
    with pytest.raises(InvalidRequest, match="Height"):
        job.plot("dependence", feature="Height")


def test_an_analyst_key_meets_forbidden_naming_the_role(redis_server: RedisServer):
    """ANALYST_API_KEYS: the client reads datasets and its role; an upload raises Forbidden (403) with the
    service's code and the role needed."""
    web = Stack(redis_server, env={"API_KEY": "admin-k", "ANALYST_API_KEYS": "analyst-k"}).start_web()
    try:
        with Client(web.base, "analyst-k") as analyst:
            assert analyst.whoami()["role"] == "analyst"
            assert any(d["name"] == "default" for d in analyst.datasets())
            with pytest.raises(Forbidden) as refused:
                analyst.upload_dataset("mine", default_dataset.generate(rows=50, seed=1))
        assert (refused.value.status, refused.value.code) == (403, "forbidden")
        assert refused.value.details["needed"] == "admin"
    finally:
        web.stop()


def test_429_is_retried_after_retry_after_then_raised_typed():
    """A 429 (too_many_renders) did nothing and passes: retried after its Retry-After; once the retries are spent
    it is TooManyRequests with the service's code and the seconds it asked to wait."""
    refusal = {"success": False, "error": "Too many plot renders are queued.", "code": "too_many_renders"}
    seen: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        return httpx.Response(429, json=refusal, headers={"Retry-After": "1"})

    with Client("http://service.invalid", retries=1, transport=httpx.MockTransport(answer)) as client, \
            pytest.raises(TooManyRequests) as limited:
        client.datasets()
    assert (limited.value.status, limited.value.code, limited.value.retry_after) == (429, "too_many_renders", 1.0)
    assert len(seen) == 2 and seen[1] - seen[0] >= 0.95


def test_rows_and_the_explanation_come_from_arrow_without_the_json_matrix(client: Client):
    """job.rows() is the /rows table as a DataFrame (pyarrow, the `arrow` extra), indexed by row; explanation()
    reads the same Arrow table and never fetches the whole JSON result, yet holds the JSON's very values."""
    job = client.analyze("Mortgage_Approvals", sample_size=150)
    explanation = job.explanation(timeout=180)
    assert job._result is None  # only the small fields were read as JSON
    top = job.rows("prediction", sort="prediction", order="desc", limit=25)
    assert list(top.columns) == ["prediction"] and len(top) == 25 and top["prediction"].is_monotonic_decreasing
    result = job.result()
    assert np.array_equal(explanation.values, result.shap_values.to_numpy(dtype=float))
    assert np.array_equal(explanation.base_values, result.base_values())
    frame = job.rows()
    assert frame.index.tolist() == list(range(150))
    assert frame["raw_prediction"].tolist() == result.rows["raw_prediction"].tolist()
