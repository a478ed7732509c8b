"""Cohort comparison and what-if scenarios through the real web, Redis and forking workers (devtools.stack)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from devtools.checks import assert_additive, assert_error
from devtools.stack import Stack
from web.api_models import AnalysisResult

COMPARISON = {"target_variable": "Mortgage_Approvals", "analysis_type": "comparison",
              "demographic_filters": ["Income > 50000"],
              "cohorts": {"urban": ["Urban_Rural == Urban"], "rural": ["Urban_Rural == Rural"], "rest": []}}
WHAT_IF = {"target_variable": "Mortgage_Approvals", "analysis_type": "what_if", "sample_size": 300,
           "scenarios": [{"name": "income +10%", "multiply": {"Income": 1.1}},
                         {"name": "all urban", "set": {"Urban_Rural": "Urban"}, "add": {"Credit_Score_Avg": 500}}]}


def job_count(stack: Stack) -> int:
    return len(stack.redis().keys("rq:job:*"))


def test_a_comparison_finishes_with_cohorts_pairs_and_its_summary(stack: Stack) -> None:
    """The union of the cohorts is explained additively; each pair's mean SHAP differences add up to its
    difference of mean predictions; ?fields=comparison serves that part; an identical request is cached."""
    job_id = stack.analyze(COMPARISON)
    result = stack.wait_job(job_id)["result"]
    assert_additive(result)
    assert AnalysisResult.model_validate(result).comparison is not None  # as the OpenAPI document says
    part = result["comparison"]
    assert [c["name"] for c in part["cohorts"]] == ["urban", "rural", "rest"]
    assert sum(c["rows"] for c in part["cohorts"]) == result["explained_rows"]  # disjoint: they partition
    assert [p["cohorts"] for p in part["pairs"]] == [["urban", "rural"], ["urban", "rest"], ["rural", "rest"]]
    for item in part["pairs"]:
        assert abs(sum(f["difference"] for f in item["features"]) - item["difference"]) < 1e-6
    assert "'urban'" in result["summary"] and "largest differences" in result["summary"]
    status, fields, _ = stack.request("GET", f"/job_status/{job_id}?fields=comparison")
    assert status == 200 and fields["result"]["comparison"] == part
    status, again, _ = stack.request("POST", "/analyze", COMPARISON)
    assert status == 200 and again["job_id"] == job_id and again["cached"] is True


def test_a_what_if_finishes_with_each_scenarios_changes(stack: Stack) -> None:
    """Each scenario gives every row's new prediction and change (the sum of its SHAP changes); a value beyond
    the training range is predicted and warned about."""
    result = stack.wait_job(stack.analyze(WHAT_IF))["result"]
    assert_additive(result)
    assert AnalysisResult.model_validate(result).scenarios is not None  # as the OpenAPI document says
    raw = np.array([row["raw_prediction"] for row in result["results"]])
    for item in result["scenarios"]:
        change = pd.DataFrame(item["shap_change"]).sum(axis=1).to_numpy()
        assert np.max(np.abs(change - (np.array(item["raw_predictions"]) - raw))) < 1e-6
        assert len(item["changes"]) == 300
    income = result["scenarios"][0]
    assert income["mean_change"] > 0 and income["rows_changed"] == 300
    assert any("'all urban'" in w and "Credit_Score_Avg" in w and "training range" in w for w in result["warnings"])
    assert "Scenario 'income +10%'" in result["summary"]


@pytest.mark.parametrize(("body", "code", "words"), [
    ({**COMPARISON, "cohorts": {"nobody": ["Income > 99999999"], "rest": []}}, "empty_selection", ("'nobody'",)),
    ({**COMPARISON, "cohorts": {"a": ["Salary > 1"], "rest": []}}, "unknown_column", ("cohort 'a'", "'Salary'")),
    ({**COMPARISON, "cohorts": {"a": []}}, "invalid_request", ("cohorts",)),
    ({**WHAT_IF, "scenarios": [{"name": "s", "add": {"Salary": 1}}]}, "unknown_column", ("'s'", "'Salary'")),
    ({**WHAT_IF, "scenarios": [{"name": "s", "add": {"Province": 1}}]}, "invalid_scenario", ("'Province'",)),
    ({**WHAT_IF, "scenarios": [{"name": "s", "multiply": {"Income": 1}}]}, "scenario_changes_nothing", ("'s'",)),
    ({**WHAT_IF, "scenarios": [{"name": "s", "set": {"zip_code": "Z1"}}]}, "invalid_scenario", ("not a feature",)),
])
def test_a_bad_question_is_a_400_naming_it_and_enqueues_nothing(stack: Stack, body: dict, code: str,
                                                                words: tuple[str, ...]) -> None:
    """Empty or bad cohorts and bad scenarios are refused at the web with the one error body."""
    before = job_count(stack)
    status, answer, _ = stack.request("POST", "/analyze", body)
    assert status == 400, answer
    assert_error(answer, code, *words)
    assert job_count(stack) == before


def test_a_multiclass_target_is_refused_for_both_questions(stack: Stack) -> None:
    """Comparison and what-if explain one number per row: a target of three classes is a 400."""
    frame = pd.DataFrame({"x": np.arange(60.0), "g": ["a", "b"] * 30, "y": ["p", "q", "r"] * 20})
    stack.uploaded("three-classes", frame)
    for body in ({"analysis_type": "comparison", "cohorts": {"a": ["g == a"], "rest": []}},
                 {"analysis_type": "what_if", "scenarios": [{"name": "s", "add": {"x": 1}}]}):
        status, answer, _ = stack.request("POST", "/analyze", {**body, "dataset": "three-classes", "target": "y"})
        assert status == 400
        assert_error(answer, "multiclass_not_supported", "'y'")


def test_the_python_client_asks_both_questions_and_returns_pandas_parts(stack: Stack) -> None:
    """Client.analyze(cohorts=...) and (scenarios=...) pick the analysis type; the result's parts are pandas."""
    from shap_client import Client

    with Client(stack.base, stack.env.get("API_KEY")) as client:
        compared = client.analyze("Mortgage_Approvals", cohorts={"urban": ["Urban_Rural == Urban"], "rest": []},
                                  sample_size=400).result(timeout=180)
        assert compared.comparison is not None
        assert list(compared.comparison.cohorts.index) == ["urban", "rest"]
        assert set(compared.comparison.mean_shap.columns) == {"urban", "rest"}
        pair = compared.comparison.differences
        assert abs(pair["difference"].sum() - compared.comparison.pairs["difference"].iloc[0]) < 1e-6
        rows = compared.shap_values.iloc[compared.comparison.positions["urban"]]
        assert np.allclose(rows.mean(), compared.comparison.mean_shap["urban"][rows.columns])
        changed = client.analyze("Mortgage_Approvals", sample_size=100,
                                 scenarios=[{"name": "richer", "add": {"Income": 10000}}]).result(timeout=180)
        outcome = changed.scenarios["richer"]
        assert len(outcome.rows) == len(changed.rows) == 100
        assert np.allclose(outcome.shap_change.sum(axis=1), outcome.rows["change"], atol=1e-6)
        assert outcome.mean_change > 0
