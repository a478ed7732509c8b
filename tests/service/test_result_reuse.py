"""No repeated work: an identical analysis is answered by the latest stored result of that analysis
(docs/decisions/0018), through the real web, Redis and forking workers."""

from __future__ import annotations

import pandas as pd

from common import keys
from devtools.stack import Stack

REQUEST = {"target_variable": "Mortgage_Applications", "demographic_filters": ["Age > 41"], "sample_size": 300}


def submit(stack: Stack, body: dict) -> tuple[int, dict]:
    status, answer, _ = stack.post("/analyze", body)
    assert status in (200, 202), answer
    return status, answer


def test_identical_request_is_answered_by_the_stored_result(stack: Stack) -> None:
    """The second identical request gets the finished first job at once (200, cached) and the same result."""
    status, first = submit(stack, REQUEST)
    assert (status, first["cached"], first["status"]) == (202, False, "queued")
    assert stack.wait_job(first["job_id"])["status"] == "finished"
    status, again = submit(stack, {**REQUEST, "target": REQUEST["target_variable"]})  # the alias is the same request
    assert (status, again["cached"], again["status"], again["job_id"]) == (200, True, "finished", first["job_id"])
    _, shown, _ = stack.get(again["status_url"])
    assert shown["status"] == "finished" and shown["result"]["explained_rows"] == 300


def test_any_difference_in_the_request_computes_afresh(stack: Stack) -> None:
    """Another filter, sample size, analysis type, data row or reuse=false each run a new job."""
    _, base = submit(stack, REQUEST)
    stack.wait_job(base["job_id"])
    variants = [{**REQUEST, "demographic_filters": ["Age > 42"]}, {**REQUEST, "sample_size": 299},
                {**REQUEST, "analysis_type": "ranking"}, {**REQUEST, "data": [{"Age": 45}]},
                {**REQUEST, "reuse": False}]
    ids = set()
    for body in variants:
        status, answer = submit(stack, body)
        assert (status, answer["cached"]) == (202, False), body
        ids.add(answer["job_id"])
    assert base["job_id"] not in ids and len(ids) == len(variants)


def test_a_new_dataset_version_is_not_answered_by_the_old_result(stack: Stack) -> None:
    """Replacing a dataset changes its version, so the same request computes on the new rows."""
    frame = pd.DataFrame({"x": range(60), "y": [i * 2.0 for i in range(60)]})
    body = {"dataset": "reuse-versions", "target_variable": "y"}
    for generation in (1, 2):
        data = frame.assign(y=frame["y"] * generation).to_csv(index=False).encode()
        status, answer, _ = stack.request("PUT", "/datasets/reuse-versions", raw=data,
                                          headers={"Content-Type": "text/csv"})
        assert status in (200, 201), answer
        status, submitted = submit(stack, body)
        assert (status, submitted["cached"]) == (202, False)
        stack.wait_job(submitted["job_id"])
    assert submit(stack, body)[0] == 200


def test_an_expired_result_is_not_reused(stack: Stack) -> None:
    """When the first job's result is gone, the identical request is computed again."""
    body = {**REQUEST, "sample_size": 123}
    _, first = submit(stack, body)
    stack.wait_job(first["job_id"])
    stack.redis().delete(keys.job_result_head(first["job_id"]))
    status, again = submit(stack, body)
    assert (status, again["cached"]) == (202, False) and again["job_id"] != first["job_id"]


def test_the_latest_stored_result_answers_not_the_first(stack: Stack) -> None:
    """A `"reuse": false` run of the same analysis computes afresh and then answers later identical requests
    (fingerprint -> job id is overwritten when a result is stored): the latest, not the first, as the docs say."""
    body = {**REQUEST, "sample_size": 211}
    _, first = submit(stack, body)
    stack.wait_job(first["job_id"])
    status, fresh = submit(stack, {**body, "reuse": False})
    assert (status, fresh["cached"]) == (202, False) and fresh["job_id"] != first["job_id"]
    stack.wait_job(fresh["job_id"])
    status, again = submit(stack, body)
    assert (status, again["cached"], again["job_id"]) == (200, True, fresh["job_id"])
