"""Analyses through the real web, Redis and forking workers: results, warnings, failures, model reuse."""

from __future__ import annotations

import io
import json
import threading
import urllib.request

import numpy as np
import pandas as pd

from analysis import wording
from common import keys
from devtools.checks import assert_additive
from devtools.stack import Stack
from store import default_dataset


def strict_json(url: str, headers: dict[str, str]) -> dict:
    """GET and parse, refusing NaN and Infinity (which are not JSON)."""
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in JSON")

    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:  # noqa: S310
        return json.loads(response.read(), parse_constant=refuse)


def test_filtered_analysis_on_default_finishes_with_a_full_result(stack: Stack) -> None:
    """A filtered analysis of the default dataset explains every selected row, additively and NaN-free."""
    job_id = stack.analyze({"target_variable": "Mortgage_Approvals", "demographic_filters": ["Income > 50000"]})
    answer = stack.wait_job(job_id)
    assert answer["status"] == "finished", answer
    assert answer["progress"] == {"stage": "done", "percent": 100}
    result = strict_json(f"{stack.base}/job_status/{job_id}", stack.headers())["result"]
    frame = default_dataset.generate()
    assert result["explained_rows"] == int((frame["Income"] > 50000).sum()) == len(result["results"])
    assert {"summary", "feature_importance", "shap_values", "base_value", "results", "model", "version_info",
            "warnings", "timings"} <= set(result)
    assert result["timings"]["shap_engine"] == "leaf_table"  # the tables made when the model was trained
    assert_additive(result)
    ranked = [item["feature"] for item in result["feature_importance"]]
    assert ranked[:3] == default_dataset.TRUE_DRIVERS["Mortgage_Approvals"]
    importances = [item["importance"] for item in result["feature_importance"]]
    assert importances == sorted(importances, reverse=True)
    assert "Income" in result["summary"]
    income = result["feature_importance"][ranked.index("Income")]["effect"]
    assert income["shape"] == "increasing"  # the built-in table's approvals grow with income
    # associational words about the model; names keep their case
    assert "In this model, higher Income goes with a higher predicted Mortgage_Approvals" in result["summary"]
    assert "tends to" not in result["summary"]
    assert all(row["zip_code"].startswith("Z") for row in result["results"])


def test_ranking_orders_rows_by_prediction(stack: Stack) -> None:
    """analysis_type=ranking returns rows ranked by prediction, best first; the summary names the first row
    and its prediction, rounded."""
    job_id = stack.analyze({"analysis_type": "ranking", "target": "Mortgage_Applications",
                            "demographic_filters": ["Province == ON", "high Population"]})
    result = stack.wait_job(job_id)["result"]
    predictions = [row["prediction"] for row in result["results"]]
    assert predictions == sorted(predictions, reverse=True)
    assert [row["rank"] for row in result["results"]] == list(range(1, len(predictions) + 1))
    assert_additive(result)  # shap_values follow the ranked order of results
    assert result["feature_importance"][0]["feature"] == "Population"
    top = result["results"][0]
    assert f"{top['zip_code']} ranks first with {wording.number(top['prediction'])}." in result["summary"]


def test_data_rows_with_missing_and_unknown_keys_are_explained(stack: Stack) -> None:
    """Given rows are explained; missing features count as missing, unknown keys are listed in warnings."""
    rows = [{"Income": 120000, "Age": 35, "favourite_colour": "blue"}, {"Province": "QC", "shoe_size": 44}]
    result = stack.wait_job(stack.analyze({"data": rows}))["result"]
    assert result["explained_rows"] == 2
    assert any("favourite_colour" in w and "shoe_size" in w for w in result["warnings"])
    assert result["summary"].startswith("Across 2 rows of the request's data, the strongest drivers of the predicted")
    assert_additive(result)
    assert result["results"][0]["top_contributors"][0]["feature"] in result["model"]["features"]


def test_binary_target_is_explained_in_log_odds(stack: Stack) -> None:
    """A two-class target trains a classifier whose SHAP values add up to the raw log-odds."""
    frame = default_dataset.generate(rows=300, seed=7)
    frame["Approved_High"] = np.where(frame["Mortgage_Approvals"] > frame["Mortgage_Approvals"].median(), "yes", "no")
    stack.uploaded("binary-areas", frame, "?exclude_columns=Mortgage_Approvals,Mortgage_Applications")
    result = stack.wait_job(stack.analyze({"dataset": "binary-areas", "target": "Approved_High"}))["result"]
    assert result["model"]["task"] == "binary"
    assert result["model"]["positive_class"] == "yes"  # named: the SHAP values are log-odds of "yes"
    assert "predicted probability of Approved_High = yes" in result["summary"]
    assert all(0 <= row["prediction"] <= 1 for row in result["results"])
    assert_additive(result)


def test_job_that_raises_ends_failed_with_its_message(stack: Stack) -> None:
    """A job that cannot be computed ends failed (not finished) and /job_status shows why: its only feature is
    constant on the rows that have a target, which the web cannot see from the whole columns' statistics (a
    feature constant on every row is a 400, analysis.features) and CatBoost refuses."""
    frame = pd.DataFrame({"y": [i % 5 for i in range(30)] + [None] * 10, "constant": [5] * 30 + [6] * 10})
    stack.uploaded("constant-feature", frame)
    answer = stack.wait_job(stack.analyze({"dataset": "constant-feature", "target": "y"}))
    assert answer["status"] == "failed"
    assert answer["error"]["type"] == "TrainingError"
    assert "constant" in answer["error"]["message"]
    assert "result" not in answer


def test_same_target_trains_once_even_when_requested_concurrently(stack: Stack) -> None:
    """Two concurrent first analyses and a later one share a single trained model."""
    frame = default_dataset.generate(rows=400, seed=11)
    # no default_target: an upload with one would train the model in its own background job
    stack.uploaded("reuse-areas", frame, "?exclude_columns=latitude,longitude")
    before = int(stack.redis().get(keys.MODEL_TRAININGS) or 0)
    job_ids: list[str] = []
    body = {"dataset": "reuse-areas", "target_variable": "Mortgage_Approvals", "reuse": False}
    threads = [threading.Thread(target=lambda: job_ids.append(stack.analyze(body))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = [stack.wait_job(job_id)["result"] for job_id in job_ids]
    results.append(stack.wait_job(stack.analyze(body))["result"])
    assert int(stack.redis().get(keys.MODEL_TRAININGS) or 0) - before == 1
    assert len({r["model"]["id"] for r in results}) == 1
    assert sum(r["model"]["trained_in_this_job"] for r in results) == 1


def test_replacing_a_dataset_changes_its_version_and_model(stack: Stack) -> None:
    """PUT of new content gives a new version, and the next analysis uses a model of that version."""
    query = "?default_target=Mortgage_Approvals"
    first = stack.uploaded("versioned", default_dataset.generate(rows=200, seed=1), query)
    second = stack.uploaded("versioned", default_dataset.generate(rows=200, seed=2), query)
    assert first["version"] != second["version"] and second["created"] is False
    result = stack.wait_job(stack.analyze({"dataset": "versioned"}))["result"]
    assert result["version_info"]["dataset_version"] == second["version"]


def test_multipart_upload_and_metadata(stack: Stack) -> None:
    """A multipart CSV upload is stored; /metadata and /datasets describe it."""
    csv = default_dataset.generate(rows=50, seed=3).to_csv(index=False).encode()
    boundary = "----shapboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode() + csv + f"\r\n--{boundary}--\r\n".encode()
    status, answer, _ = stack.request("PUT", "/datasets/multi", raw=body,
                                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status in (200, 201), answer
    status, meta, _ = stack.request("GET", "/metadata?dataset=multi")
    assert status == 200 and meta["row_count"] == 50
    types = {c["name"]: c["type"] for c in meta["columns"]}
    assert types["zip_code"] == "id" and types["Province"] == "categorical" and types["Income"] == "numeric"
    income = next(c for c in meta["columns"] if c["name"] == "Income")
    assert income["min"] <= income["median"] <= income["max"]
    names = [d["name"] for d in stack.request("GET", "/datasets")[1]["datasets"]]
    assert "multi" in names and "default" in names


def test_default_dataset_metadata_matches_the_readme(stack: Stack) -> None:
    """The built-in dataset has >= 1,500 rows, >= 30 numeric columns and the columns docs/getting-started.md names."""
    status, meta, _ = stack.request("GET", "/metadata")
    assert status == 200
    types = {c["name"]: c["type"] for c in meta["columns"]}
    assert meta["row_count"] >= 1500
    assert sum(t == "numeric" for t in types.values()) >= 30
    assert types["zip_code"] == "id"
    for name in ("Income", "Age", "Population", "Homeownership_Pct", "latitude", "longitude",
                 "Mortgage_Approvals", "Mortgage_Applications"):
        assert types[name] == "numeric", name
    assert sum(t == "categorical" for t in types.values()) >= 2
    assert meta["default_target"] == "Mortgage_Approvals"
    assert {"latitude", "longitude"} <= set(meta["exclude_columns"])
    frame = pd.read_csv(io.StringIO(default_dataset.generate().to_csv(index=False)))
    assert 0.5 < (frame["Income"] > 50000).mean() < 0.95
