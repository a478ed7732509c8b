"""How /job_status serves results (issues 5 and 19): the JSON result written from the stored rows table and head
and streamed, gzip when accepted, `?fields=` subsets, blocking long polls, results an earlier build stored whole.

Real parts: a private redis-server, the web app on a real Waitress server, real forking workers.
"""

from __future__ import annotations

import gzip
import http.client
import json
from typing import Any

import pytest

from common import jobstates, keys
from common.rqtypes import JSONQueue
from devtools.stack import Stack
from devtools.tables import described_default

ANALYSIS: dict[str, Any] = {"target_variable": "Mortgage_Approvals", "sample_size": 300}


def get(stack: Stack, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    """One GET with exactly these headers (urllib would add its own), the body as sent (not decoded)."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    try:
        connection.request("GET", path, headers={**stack.headers(), **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


@pytest.fixture(scope="module")
def finished(stack: Stack) -> str:
    job_id = stack.analyze(ANALYSIS)
    assert stack.wait_job(job_id)["status"] == "finished"
    return job_id


def test_finished_result_is_sent_gzip_compressed_when_the_client_accepts_it(stack: Stack, finished: str) -> None:
    """Compressed as it is written (no stored gzip copy, no stored JSON: the analysis stored its rows table and
    head only); every answer the same bytes."""
    status, plain, plain_headers = get(stack, f"/job_status/{finished}")
    assert status == 200 and "content-encoding" not in plain_headers
    assert "Accept-Encoding" in plain_headers["vary"]

    for _ in range(2):
        status, packed, headers = get(stack, f"/job_status/{finished}", {"Accept-Encoding": "gzip, deflate"})
        assert status == 200
        assert headers["content-encoding"] == "gzip"
        assert "Accept-Encoding" in headers["vary"]
        assert len(packed) < len(plain)
        assert gzip.decompress(packed) == plain

    client = stack.redis()
    assert not client.exists(keys.job_answer_gzip(finished), keys.job_result(finished))
    assert client.exists(keys.job_result_head(finished), keys.job_rows_table(finished)) == 2
    assert 0 < client.ttl(keys.job_result_head(finished)) <= stack.settings.result_ttl

    _, refused, headers = get(stack, f"/job_status/{finished}", {"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in headers and refused == plain


def test_small_answers_are_not_compressed(web_only: Stack) -> None:
    # on the analysis queue (only its jobs are the API's), with no worker: it stays queued
    queued = JSONQueue(web_only.settings.queue_name, connection=web_only.redis())
    job_id = queued.enqueue(jobstates.ANALYSIS_FUNC, kwargs={"request": dict(ANALYSIS)}).id
    status, body, headers = get(web_only, f"/job_status/{job_id}", {"Accept-Encoding": "gzip"})
    assert status == 200 and "content-encoding" not in headers
    assert json.loads(body)["status"] == "queued"


def test_fields_returns_only_the_asked_fields_of_the_result(stack: Stack, finished: str) -> None:
    _, plain, _ = get(stack, f"/job_status/{finished}")
    full = json.loads(plain)

    status, body, _ = get(stack, f"/job_status/{finished}?fields=feature_importance,summary")
    assert status == 200
    assert get(stack, f"/job_status/{finished}?fields=feature_importance,summary")[1] == body  # the same again
    answer = json.loads(body)
    assert list(answer["result"]) == ["summary", "feature_importance"]  # the result's own order
    assert answer["result"]["summary"] == full["result"]["summary"]
    assert answer["result"]["feature_importance"] == full["result"]["feature_importance"]
    assert {k: v for k, v in answer.items() if k != "result"} == {k: v for k, v in full.items() if k != "result"}

    status, body, _ = get(stack, f"/job_status/{finished}?fields=shap_values,base_value,results")
    assert status == 200
    subset = json.loads(body)["result"]
    assert subset == {name: full["result"][name] for name in ("shap_values", "base_value", "results")}

    status, packed, headers = get(stack, f"/job_status/{finished}?fields=shap_values", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed))["result"] == {"shap_values": full["result"]["shap_values"]}


def test_unknown_or_empty_fields_are_a_400_naming_them(stack: Stack, finished: str) -> None:
    status, body, _ = get(stack, f"/job_status/{finished}?fields=summary,shap_valuez")
    answer = json.loads(body)
    assert status == 400 and answer["success"] is False
    assert "shap_valuez" in answer["error"] and answer["details"]["unknown_fields"] == ["shap_valuez"]

    status, body, _ = get(stack, f"/job_status/{finished}?fields=,")
    assert status == 400 and "fields" in json.loads(body)["error"]


def test_long_poll_returns_the_finished_result(stack: Stack) -> None:
    job_id = stack.analyze({**ANALYSIS, "demographic_filters": ["Income > 60000"]})
    status, body, _ = get(stack, f"/job_status/{job_id}?wait=30")
    answer = json.loads(body)
    if answer["status"] != "finished":  # a slow machine: the job may take longer than one long poll
        answer = stack.wait_job(job_id)
    assert status == 200 and answer["status"] == "finished"
    assert answer["result"]["explained_rows"] > 0


def test_long_poll_returns_a_failed_job_with_its_error(stack: Stack) -> None:
    # constant on the rows with a target only: a column constant everywhere is refused by the web (a 400)
    csv = "x,constant\n" + "".join(f"{i},5\n" for i in range(30)) + ",6\n" * 10
    status, answer, _ = stack.request("PUT", "/datasets/serving-constant", raw=csv.encode(),
                                      headers={"Content-Type": "text/csv"})
    assert status in (200, 201), answer
    job_id = stack.analyze({"dataset": "serving-constant", "target": "x"})  # its only feature: constant there
    status, body, _ = get(stack, f"/job_status/{job_id}?wait=30")
    answer = json.loads(body)
    if answer["status"] not in jobstates.TERMINAL:
        answer = stack.wait_job(job_id)
    assert answer["status"] == "failed" and "constant" in answer["error"]["message"]
    assert "result" not in answer


def test_long_poll_of_a_job_nobody_runs_ends_when_the_wait_is_over(web_only: Stack) -> None:
    queued = JSONQueue(web_only.settings.queue_name, connection=web_only.redis())  # no worker: it stays queued
    job_id = queued.enqueue(jobstates.ANALYSIS_FUNC, kwargs={"request": dict(ANALYSIS)}).id
    status, body, _ = get(web_only, f"/job_status/{job_id}?wait=1.5")
    assert status == 200 and json.loads(body)["status"] == "queued"


def test_a_result_an_earlier_build_stored_whole_is_served_until_it_expires(stack: Stack, finished: str) -> None:
    """A JSON result stored by a build before the stored-once result (keys.job_result, with the byte index of its
    fields in the job's meta, no head) is served as stored, whole, gzip or cut to ?fields=."""
    from common.rqtypes import JSONJob

    _, plain, _ = get(stack, f"/job_status/{finished}")
    full = json.loads(plain)["result"]
    client = stack.redis()
    job_id = stack.analyze(ANALYSIS | {"sample_size": 120, "reuse": False})
    assert stack.wait_job(job_id)["status"] == "finished"
    pieces, index, offset = [b"{"], {}, 1
    for position, (name, value) in enumerate(full.items()):
        key = (b"," if position else b"") + json.dumps(name).encode() + b":"
        body = json.dumps(value).encode()
        index[name] = [offset + len(key), offset + len(key) + len(body)]
        pieces += [key, body]
        offset += len(key) + len(body)
    client.delete(keys.job_result_head(job_id), keys.job_rows_table(job_id))
    client.set(keys.job_result(job_id), b"".join([*pieces, b"}"]), ex=600)
    job = JSONJob.fetch(job_id, connection=client)
    job.meta["result_index"] = index
    job.save_meta()
    status, body, _ = get(stack, f"/job_status/{job_id}")
    assert status == 200 and json.loads(body)["result"] == full
    _, packed, headers = get(stack, f"/job_status/{job_id}", {"Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip" and gzip.decompress(packed) == body
    _, body, _ = get(stack, f"/job_status/{job_id}?fields=summary,base_value")
    assert json.loads(body)["result"] == {"summary": full["summary"], "base_value": full["base_value"]}


@pytest.fixture(scope="module")
def default_table() -> tuple[dict, Any]:

    return described_default(rows=400, seed=7)


@pytest.mark.parametrize(("target", "analysis_type"), [("Mortgage_Approvals", "ranking"),
                                                       ("Province", "correlation"), ("Province", "ranking")])
def test_rows_built_chunk_by_chunk_encode_to_the_same_result(default_table: tuple[dict, Any], target: str,
                                                             analysis_type: str) -> None:
    """Result rows are built a chunk at a time (AGGRESSIVE_MEMORY_MANAGEMENT: smaller chunks); the bytes and
    additivity do not depend on the chunk size."""
    import numpy as np

    from analysis import datasets
    from analysis.encoding import encode
    from analysis.request import AnalyzeRequest
    from explain.run import analyze
    from explain.training import TrainedModel, train

    meta, frame = default_table
    features = datasets.feature_columns(meta, target)
    model, model_meta = train(frame, target, features, thread_count=1)
    trained = TrainedModel("test", model, model_meta)
    request = AnalyzeRequest.model_validate({"analysis_type": analysis_type, "sample_size": 250})

    def run(chunk: int, batch: int) -> bytes:
        result = analyze(frame, meta, request, target, trained, thread_count=1, batch_size=batch, max_rows=10_000,
                         row_chunk=chunk)
        result.timings = {}  # the only part that differs from run to run
        return encode(result)

    whole = run(10_000, 10_000)
    assert run(7, 33) == whole
    result = json.loads(whole)
    rows = result["results"]
    assert len(rows) == 250
    if analysis_type == "ranking":
        assert [row["rank"] for row in rows] == list(range(1, 251))
    if model_meta.task == "multiclass" and analysis_type == "correlation":  # rows in explained order
        matrix = np.array([result["shap_values"][f] for f in features])
        chosen = [row["explained_class"] for row in rows]
        base = np.array([result["base_value"][c] for c in chosen])
        raw = np.array([row["raw_prediction"] for row in rows])
        assert np.max(np.abs(base + matrix.sum(axis=0) - raw)) < 1e-6


def test_a_stored_answer_larger_than_a_slice_is_read_whole(redis_server) -> None:
    """The web sends large stored answers slice by slice (GETRANGE) instead of reading them at once."""
    from web.answers import SLICE_BYTES, Stored

    client = redis_server.client()
    value = bytes(range(256)) * (SLICE_BYTES * 2 // 256 + 1000)
    client.set("big", value)
    first = client.getrange("big", 0, SLICE_BYTES - 1)
    chunks = list(Stored("big", len(value), first).chunks(client))
    assert len(chunks) == 3 and all(len(chunk) <= SLICE_BYTES for chunk in chunks)
    assert b"".join(chunks) == value


def test_a_served_answer_is_not_served_again_once_its_job_is_gone(stack: Stack) -> None:
    """A finished answer is only served while the job and its result exist."""
    from common.rqtypes import JSONJob

    job_id = stack.analyze(ANALYSIS)
    assert stack.wait_job(job_id)["status"] == "finished"
    for headers in ({}, {"Accept-Encoding": "gzip"}):
        assert get(stack, f"/job_status/{job_id}", headers)[0] == 200
        assert get(stack, f"/job_status/{job_id}", headers)[0] == 200
    JSONJob.fetch(job_id, connection=stack.redis()).delete()
    for headers in ({}, {"Accept-Encoding": "gzip"}):
        status, body, _ = get(stack, f"/job_status/{job_id}", headers)
        assert status == 404 and json.loads(body)["code"]


def test_a_kept_answer_is_served_only_while_its_result_exists(stack: Stack) -> None:
    """The web keeps a finished answer it wrote (FINISHED_ANSWERS_MB) and sends it again, the same bytes, only
    while Redis still holds the job and the result's head: a removed result is never answered from memory."""
    job_id = stack.analyze(ANALYSIS | {"sample_size": 80, "reuse": False})
    assert stack.wait_job(job_id)["status"] == "finished"
    kept = stack.app.extensions["shap"].answers
    for headers, variant in (({}, "identity"), ({"Accept-Encoding": "gzip"}, "gzip")):
        first = get(stack, f"/job_status/{job_id}", headers)[1]
        assert kept.get(job_id, variant) == first == get(stack, f"/job_status/{job_id}", headers)[1]
    stack.redis().delete(keys.job_result_head(job_id))
    status, body, _ = get(stack, f"/job_status/{job_id}")
    assert status == 404 and json.loads(body)["code"] == "not_found"
    assert kept.get(job_id, "identity") is None


def test_kept_answers_stay_within_their_bound() -> None:
    from web.finished_answers import ENTRY_BYTES, FinishedAnswers

    kept = FinishedAnswers(max_bytes=100)
    for name in ("a", "b", "c"):
        kept.put(name, "identity", bytes(40))
    assert kept.size <= 100 and kept.get("a", "identity") is None and kept.get("c", "identity") is not None
    kept.put("big", "identity", bytes(101))
    assert kept.get("big", "identity") is None
    assert list(FinishedAnswers(0).keeping("x", "identity", [b"ab", b"c"])) == [b"ab", b"c"]
    whole = FinishedAnswers(2 * ENTRY_BYTES)
    assert b"".join(whole.keeping("x", "gzip", [b"ab", b"c"])) == b"abc" == whole.get("x", "gzip")
    assert list(whole.keeping("y", "gzip", [bytes(ENTRY_BYTES), b"1"])) and whole.get("y", "gzip") is None
