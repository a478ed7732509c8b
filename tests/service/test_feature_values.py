"""GET /job_status/<id>/feature_values: the explained rows' feature values (read from the dataset version at the
rows' stored positions, or from the rows table for rows the client sent), in the order of `results` and
`shap_values` (real redis-server, web and forking workers)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

from analysis import feature_values
from common import jobstates, keys
from common.rqtypes import JSONQueue
from devtools import look_table
from devtools.stack import Stack
from store import dataset_store


def upload(stack: Stack, name: str = "look", rows: int = look_table.ROWS) -> None:
    stack.uploaded(name, look_table.csv_bytes(rows), look_table.UPLOAD_QUERY)


def test_encode_orders_rows_and_writes_missing_values_as_null() -> None:
    """Rows follow `order`, features the given order; NaN and "" (a missing category) become null."""
    x = pd.DataFrame({"a": np.array([1.5, np.nan, 3.0]), "c": np.array(["u", "", "w"], dtype=object),
                      "b": np.array([10.0, 20.0, np.inf], dtype="float32")})
    answer = feature_values.decode(feature_values.encode("j1", ["a", "c", "b"], x, np.array([2, 0, 1])))
    assert answer == (["a", "c", "b"], {"a": [3.0, 1.5, None], "c": ["w", "u", None], "b": [None, 10.0, 20.0]})


def test_feature_values_follow_the_results_order_with_categories_as_strings(stack: Stack) -> None:
    """A ranking's rows are reordered: the values of row i are those of results[i]; the stored copy has the
    result's TTL; missing values are null."""
    upload(stack)
    job_id = stack.analyze({"dataset": "look", "target": "Score", "analysis_type": "ranking"})
    result = stack.wait_job(job_id)["result"]
    status, answer, _ = stack.get(f"/job_status/{job_id}/feature_values")
    assert status == 200 and answer["success"] is True and answer["job_id"] == job_id
    assert answer["features"] == list(result["shap_values"]) == result["model"]["features"]
    table = look_table.generate().set_index("area")
    areas = [row["area"] for row in result["results"]]
    for name in answer["features"]:
        assert len(answer["values"][name]) == len(areas)
        expected = [table.at[a, name] for a in areas]
        got = answer["values"][name]
        assert all((g is None) == (e is None or (isinstance(e, float) and math.isnan(e)))
                   for g, e in zip(got, expected, strict=True)), name
        assert [g for g in got if g is not None] == [e for e in expected if isinstance(e, str) or e == e], name
    assert isinstance(answer["values"]["Region"][0], str | None)
    client = stack.redis()
    # not stored at all: the rows are the dataset's, read from its version at their stored positions; the rows
    # table is written with the result's head, with its TTL
    assert not client.exists(keys.job_feature_values(job_id))
    values_ms, result_ms = client.pttl(keys.job_rows_table(job_id)), client.pttl(keys.job_result_head(job_id))
    assert values_ms > 0 and abs(values_ms - result_ms) < 1000


def test_unknown_job_is_404_and_an_unfinished_one_409(stack: Stack) -> None:
    """An id that was never a job answers 404; a queued analysis 409 job_not_finished."""
    status, answer, _ = stack.get("/job_status/no-such-job/feature_values")
    assert status == 404 and answer["code"] == "not_found"
    queue = JSONQueue(stack.settings.queue_name, connection=stack.redis())
    waiting = queue.enqueue_in(timedelta(hours=1), jobstates.ANALYSIS_FUNC, kwargs={"request": {}})
    status, answer, _ = stack.get(f"/job_status/{waiting.id}/feature_values")  # scheduled: no worker takes it
    assert status == 409 and answer["code"] == "job_not_finished" and answer["details"]["status"] == "scheduled"
    assert f"Job '{waiting.id}' is scheduled, not finished" in answer["error"]  # not JobStatus.SCHEDULED


def test_forgetting_a_dataset_version_removes_its_feature_values(stack: Stack) -> None:
    """The feature values go with the result when the dataset version they were computed on is forgotten."""
    upload(stack, "look-forget", rows=120)  # other bytes: a version of its own
    job_id = stack.wait_job(stack.analyze({"dataset": "look-forget", "target": "Score"}))["job_id"]
    client = stack.redis()
    version = dataset_store.load_meta(client, "look-forget").version
    assert client.exists(keys.job_rows_table(job_id))
    dataset_store.forget_version(client, version)
    assert not client.exists(keys.job_rows_table(job_id))
    status, _, _ = stack.get(f"/job_status/{job_id}/feature_values")
    assert status == 404


def test_a_training_job_has_no_feature_values_nor_plots(stack: Stack) -> None:
    """The training job an upload with default_target starts is a job of the API, not an analysis: 404."""
    status, answer, _ = stack.request("PUT", f"/datasets/look-train{look_table.UPLOAD_QUERY}&default_target=Score",
                                      raw=look_table.csv_bytes(150), headers={"Content-Type": "text/csv"})
    assert status == 201 and answer["training_job_id"], answer
    assert stack.wait_job(answer["training_job_id"])["status"] == "finished"
    for route in ("feature_values", "plots/bar"):
        status, refused, _ = stack.get(f"/job_status/{answer['training_job_id']}/{route}")
        assert status == 404 and "not an analysis" in refused["error"], refused


def test_the_result_carries_the_models_classes_for_the_plot_rows() -> None:
    """The worker stores the plot rows' classes from the result it holds (the model's), with no Redis read."""
    from analysis import datasets
    from analysis.request import AnalyzeRequest
    from devtools.tables import areas as table
    from explain.run import analyze
    from explain.training import TrainedModel, train

    meta, frame = table("binary")
    model, model_meta = train(frame, "y", datasets.feature_columns(meta, "y"), thread_count=1)
    result = analyze(frame, meta, AnalyzeRequest(dataset="t", target_variable="y"), "y",
                     TrainedModel("t", model, model_meta), thread_count=1, batch_size=64, max_rows=10_000)
    assert result.shap_values.classes == model_meta.classes == ["no", "yes"]


def test_feature_values_stored_apart_by_an_earlier_build_are_still_served(stack: Stack) -> None:
    """A result an earlier build stored kept its feature values in a key of their own and no rows table: that
    key is served as it is until it expires."""
    upload(stack, "look-old", rows=100)
    job_id = stack.wait_job(stack.analyze({"dataset": "look-old", "target": "Score"}))["job_id"]
    client = stack.redis()
    _, answer, _ = stack.get(f"/job_status/{job_id}/feature_values")
    client.delete(keys.job_rows_table(job_id), keys.job_result_head(job_id))
    client.set(keys.job_feature_values(job_id), b'{"success":true,"job_id":"x","features":[],"values":{}}')
    status, old, _ = stack.get(f"/job_status/{job_id}/feature_values")
    assert status == 200 and old["job_id"] == "x" and answer["job_id"] == job_id
