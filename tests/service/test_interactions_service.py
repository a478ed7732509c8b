"""Interactions analyses and dataset labels through the real web, Redis and forking workers (devtools.stack)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest

from common import keys
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from store import default_dataset
from web import api_models

CAP = 40  # INTERACTION_MAX_ROWS of this module's stack
LABELS = {"Income": "Household income", "Mortgage_Approvals": "Approved mortgages"}


@pytest.fixture(scope="module")
def capped_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server = RedisServer(tmp_path_factory.mktemp("interactions") / "redis").start()
    running = Stack(server, env={"INTERACTION_MAX_ROWS": str(CAP)}).start_web().start_workers(2)
    yield running
    running.stop()
    server.stop()


def put_csv(stack: Stack, name: str, query: str = "") -> tuple[int, dict]:
    csv = default_dataset.generate(rows=300, seed=4).to_csv(index=False).encode()
    status, answer, _ = stack.request("PUT", f"/datasets/{name}?id_columns=zip_code{query}", raw=csv,
                                      headers={"Content-Type": "text/csv"})
    return status, answer


def test_interactions_analysis_reports_top_pairs_aligned_with_results(capped_stack: Stack) -> None:
    """analysis_type interactions: at most INTERACTION_MAX_ROWS rows (warned), top pairs with per-row values
    aligned with `results`, every feature's main effects, the strongest pair named in the summary."""
    job_id = capped_stack.analyze({"analysis_type": "interactions", "demographic_filters": ["Income > 50000"]})
    answer = capped_stack.wait_job(job_id)
    assert answer["status"] == "finished", answer
    result = api_models.JobStatus.model_validate(answer).result
    assert isinstance(result, api_models.AnalysisResult) and result.interactions is not None
    found = result.interactions
    assert found.rows == CAP == len(result.results) and found.engine == "leaf_table"
    assert any("INTERACTION_MAX_ROWS" in w for w in result.warnings)
    assert all(len(pair.values) == CAP for pair in found.pairs) and len(found.pairs) == 10
    strengths = [pair.mean_abs_interaction for pair in found.pairs]
    assert strengths == sorted(strengths, reverse=True)
    assert {m.feature for m in found.main_effects} == set(result.model.features)
    assert f"between {found.pairs[0].feature} and {found.pairs[0].with_}" in result.summary
    assert "interactions_s" in result.timings
    raw = answer["result"]["interactions"]["pairs"][0]
    assert set(raw) == {"feature", "with", "mean_abs_interaction", "values"}
    model_id = result.model.id
    assert capped_stack.redis().exists(keys.model_interaction_tables(model_id))  # checked once, stored
    again = capped_stack.wait_job(capped_stack.analyze({"analysis_type": "interactions", "reuse": False,
                                                        "demographic_filters": ["Income > 50000"]}))["result"]
    assert again["interactions"]["engine"] == "leaf_table"
    assert again["interactions"]["pairs"][0]["values"] == answer["result"]["interactions"]["pairs"][0]["values"]


def test_labels_reach_metadata_summary_and_feature_importance(capped_stack: Stack) -> None:
    """Labels given with the upload are returned by /metadata and shown by the summary and
    feature_importance's `label`; the data fields keep the column names."""
    status, answer = put_csv(capped_stack, "labelled", "&labels=" + urllib.parse.quote(json.dumps(LABELS)))
    assert status == 201 and answer["labels"] == LABELS, answer
    assert capped_stack.request("GET", "/metadata?dataset=labelled")[1]["labels"] == LABELS
    request = {"dataset": "labelled", "target_variable": "Mortgage_Approvals", "sample_size": 60}
    result = capped_stack.wait_job(capped_stack.analyze(request))["result"]
    assert "Household income" in result["summary"] and "Approved mortgages" in result["summary"]
    income = next(item for item in result["feature_importance"] if item["feature"] == "Income")
    assert income["label"] == "Household income"
    assert "label" not in next(item for item in result["feature_importance"] if item["feature"] == "Age")
    assert "Income" in result["shap_values"] and "Mortgage_Approvals" in result["results"][0]


def test_relabelling_a_dataset_is_not_answered_by_the_old_summary(capped_stack: Stack) -> None:
    """PUT /datasets/<name>/labels keeps the version, and an identical request then computes afresh."""
    status, answer = put_csv(capped_stack, "relabel", "&labels=" + urllib.parse.quote(json.dumps(LABELS)))
    assert status == 201
    request = {"dataset": "relabel", "target_variable": "Mortgage_Approvals", "sample_size": 60}
    first = capped_stack.analyze(request)
    capped_stack.wait_job(first)
    assert capped_stack.analyze(request) == first  # identical: answered by the first job
    status, stored, _ = capped_stack.request("PUT", "/datasets/relabel/labels", {"Income": "Income per household"})
    assert status == 200 and stored["labels"] == {"Income": "Income per household"}
    assert stored["version"] == answer["version"]
    second = capped_stack.analyze(request)
    assert second != first
    assert "Income per household" in capped_stack.wait_job(second)["result"]["summary"]


def test_bad_labels_are_refused_naming_what_to_change(capped_stack: Stack) -> None:
    """Unknown columns, non-strings, over-long or multi-line labels and non-objects are 400s; nothing stored."""
    status, answer = put_csv(capped_stack, "badlabels", "&labels=" + urllib.parse.quote('{"Nope": "x", "Age": "y"}'))
    assert status == 400 and answer["code"] == "unknown_column" and "Nope" in answer["error"]
    assert answer["details"] == {"unknown_columns": ["Nope"]}
    assert capped_stack.request("GET", "/metadata?dataset=badlabels")[0] == 400  # nothing was stored
    put_csv(capped_stack, "goodlabels")
    for body, words in (({"Age": 3}, "must be a string"), ({"Age": "x" * 201}, "at most 200"),
                        ({"Age": "two\nlines"}, "control characters"), (["Age"], "JSON object")):
        status, answer, _ = capped_stack.request("PUT", "/datasets/goodlabels/labels", body)
        assert status == 400 and words in answer["error"], answer
    status, answer = put_csv(capped_stack, "goodlabels", "&labels=" + urllib.parse.quote("{not json"))
    assert status == 400 and answer["code"] == "invalid_labels"


def test_multipart_upload_carries_labels_in_a_form_field(capped_stack: Stack) -> None:
    """A multipart upload's `labels` field is read like the query parameter."""
    csv = default_dataset.generate(rows=50, seed=3).to_csv(index=False).encode()
    boundary = "----shaplabels"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"labels\"\r\n\r\n{json.dumps(LABELS)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode() + csv + f"\r\n--{boundary}--\r\n".encode()
    status, answer, _ = capped_stack.request("PUT", "/datasets/multilabels", raw=body,
                                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 201 and answer["labels"] == LABELS, answer


def test_the_client_gives_interactions_as_pandas_and_sends_labels(capped_stack: Stack) -> None:
    """shap_client: analyze(analysis_type="interactions") as aligned DataFrames; upload_dataset(labels=)
    and set_labels reach /metadata."""
    from shap_client import Client

    with Client(capped_stack.base) as client:
        result = client.analyze("Mortgage_Approvals", analysis_type="interactions", sample_size=30).result(180)
        assert result.interaction_pairs is not None and result.interaction_values is not None
        assert list(result.interaction_pairs.columns) == ["feature", "with", "mean_abs_interaction"]
        first = tuple(result.interaction_pairs.iloc[0][["feature", "with"]])
        assert result.interaction_values.columns[0] == first
        assert result.interaction_values.index.equals(result.rows.index) and len(result.rows) == 30
        assert result.main_effects is not None and set(result.main_effects.columns) == set(result.shap_values.columns)
        assert client.analyze("Mortgage_Approvals", sample_size=5).result(180).interaction_pairs is None
        frame = default_dataset.generate(rows=100, seed=9)
        stored = client.upload_dataset("client-labels", frame, id_columns=["zip_code"], labels=LABELS)
        assert stored["labels"] == LABELS
        assert client.set_labels("client-labels", {"Age": "Median age"})["labels"] == {"Age": "Median age"}
        assert client.metadata("client-labels")["labels"] == {"Age": "Median age"}
        labelled = client.analyze("Mortgage_Approvals", dataset="client-labels").result(180)
        assert labelled.importance.set_index("feature").at["Age", "label"] == "Median age"
        assert "Median age" in labelled.explanation().feature_names  # as the service's plots name it


def test_replacing_a_dataset_removes_its_models_interaction_tables(capped_stack: Stack) -> None:
    """The stored interaction tables go with their model when the dataset is replaced (bytes no other
    dataset of this module holds: a version another name still holds keeps its models)."""
    first = default_dataset.generate(rows=300, seed=21).to_csv(index=False).encode()
    status, _, _ = capped_stack.request("PUT", "/datasets/forgetful?id_columns=zip_code", raw=first,
                                        headers={"Content-Type": "text/csv"})
    assert status == 201
    body = {"dataset": "forgetful", "target_variable": "Mortgage_Approvals", "analysis_type": "interactions",
            "sample_size": 20}
    result = capped_stack.wait_job(capped_stack.analyze(body))["result"]
    key = keys.model_interaction_tables(result["model"]["id"])
    assert capped_stack.redis().exists(key)
    csv = default_dataset.generate(rows=300, seed=5).to_csv(index=False).encode()
    status, _, _ = capped_stack.request("PUT", "/datasets/forgetful?id_columns=zip_code", raw=csv,
                                        headers={"Content-Type": "text/csv"})
    assert status == 200 and not capped_stack.redis().exists(key)


def test_a_chunked_labels_body_over_the_limit_is_refused_for_its_size(capped_stack: Stack) -> None:
    """A labels body without Content-Length (chunked, passed on by a server that sets wsgi.input_terminated;
    Waitress itself de-chunks and sets it) meets the same MAX_LABELS_BYTES check as any other."""
    import io

    from analysis.labels import MAX_LABELS_BYTES

    put_csv(capped_stack, "chunkedlabels")
    body = json.dumps({f"column_{i:06d}": "x" for i in range(MAX_LABELS_BYTES // 16)}).encode()
    assert len(body) > MAX_LABELS_BYTES
    response = capped_stack.app.test_client().put(
        "/datasets/chunkedlabels/labels", input_stream=io.BytesIO(body), content_type="application/json",
        headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    answer = response.get_json()
    assert response.status_code == 400 and answer["code"] == "invalid_labels", answer
    assert f"at most {MAX_LABELS_BYTES}" in answer["error"], answer


def test_a_model_the_earlier_native_check_left_native_gets_its_tables_again(capped_stack: Stack) -> None:
    """The earlier builds stored `native:` for a model whose tables differed from CatBoost's (inconsistent)
    ShapInteractionValues; that check is no longer made, so such a model's tables are built and used again."""
    body = {"target_variable": "Mortgage_Approvals", "analysis_type": "interactions", "sample_size": 20}
    model_id = capped_stack.wait_job(capped_stack.analyze(body))["result"]["model"]["id"]
    key = keys.model_interaction_tables(model_id)
    capped_stack.redis().set(key, b"native:the interaction tables differed by 2.03e-05 from ShapInteractionValues")
    again = capped_stack.wait_job(capped_stack.analyze({**body, "reuse": False}))
    assert again["status"] == "finished", again.get("error")
    assert again["result"]["interactions"]["engine"] == "leaf_table"
    assert not (capped_stack.redis().get(key) or b"").startswith(b"native:")
