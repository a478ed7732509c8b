"""Findings 3, 5, 6, 7, 9, 11, 12 and 13 of issue 11 against a real stack: a private redis-server, the
web on a real Waitress server and two real forking workers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common import keys
from common.rqtypes import JSONJob, JSONQueue
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from devtools.waiting import wait_until
from store import default_dataset
from tests.hostile.helpers import assert_refusal, csv_bytes

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server = RedisServer(tmp_path_factory.mktemp("hostile") / "redis").start()
    running = Stack(server, env={"JOB_RETRIES": "2"}).start_web().start_workers(2)
    yield running
    running.stop()
    server.stop()


def put(stack: Stack, name: str, data: bytes, query: str = "") -> tuple[int, dict]:
    status, body, _ = stack.upload_csv(name, data, query)
    return status, body


def queued(stack: Stack) -> int:
    return int(stack.redis().llen(JSONQueue(stack.settings.queue_name, connection=stack.redis()).key))


# --- finding 5: CSV bodies that reached an unhandled _csv.Error -------------------------------------

@pytest.mark.parametrize(("data", "words"), [
    (b"y,x\r1,2\r3,4\r" * 5, "carriage return"),
    (b"y," + b"x" * (130 * 1024) + b"\n1,2\n", "header"),
    (bytes(range(256)) * 40, "NUL"),
    (b'"y,x\n1,2\n', "parsed"),
])
def test_an_unreadable_csv_is_a_400_naming_the_problem(stack: Stack, data: bytes, words: str) -> None:
    """CR-only line ends, a 130 KiB header field, binary bytes: a 400 invalid_dataset, not a 500."""
    status, body = put(stack, "badcsv", data)
    assert_refusal(status, body, 400, "invalid_dataset")
    assert words.lower() in body["error"].lower(), body


# --- finding 6: input errors refused before enqueueing, or failed once ------------------------------

@pytest.mark.parametrize(("columns", "query", "words"), [
    ({"y": lambda i: "inf" if i == 3 else i, "x": lambda i: i % 7}, "", "infinite"),
    ({"y": lambda i: i, "x": lambda i: i % 7}, "?exclude_columns=x", "No feature"),
    ({"y": 5, "x": lambda i: i % 7}, "", "single value"),
    ({"y": "", "x": lambda i: i % 7, "z": lambda i: i % 3}, "", "no values"),
    ({"y": lambda i: f"class{i % 25}", "x": lambda i: i % 7}, "", "classes"),
])
def test_a_target_that_cannot_be_explained_is_refused_before_enqueueing(stack: Stack, columns: dict, query: str,
                                                                         words: str) -> None:
    """What the stored statistics show (non-finite, no feature, constant, all missing, > 20 classes) is a 400."""
    status, body = put(stack, "badtarget", csv_bytes(60, **columns), query)
    assert status in (200, 201), body
    before = queued(stack)
    status, body, _ = stack.request("POST", "/analyze", {"dataset": "badtarget", "target_variable": "y"})
    assert_refusal(status, body, 400, "invalid_dataset")
    assert words in body["error"], body
    assert queued(stack) == before


def test_a_training_error_fails_the_job_once_without_retries(stack: Stack) -> None:
    """A feature constant on the rows with a target (not on all: that is a 400) passes the web's checks;
    CatBoost refuses it: `failed` after one attempt."""
    put(stack, "constfeature", csv_bytes(60, y=lambda i: i % 5 if i < 50 else "", x=lambda i: 1 if i < 50 else 2))
    job_id = stack.analyze({"dataset": "constfeature", "target_variable": "y"})
    answer = stack.wait_job(job_id, timeout=120)
    assert answer["status"] == "failed", answer
    assert "constant" in answer["error"]["message"], answer["error"]
    assert f"Job {job_id}: enqueued for retry" not in stack.worker_logs()  # RQ's words when it retries
    assert f"Job {job_id}: scheduled for retry" not in stack.worker_logs()


# --- finding 3: a client's `default` survives a worker restart --------------------------------------

def test_a_stored_default_dataset_is_not_put_back_by_a_restart(stack: Stack) -> None:
    """PUT /datasets/default, restart the workers: the client's table is still `default`."""
    status, body = put(stack, "default", csv_bytes(40, Target=lambda i: i % 9, Feature=lambda i: i * 3),
                       "?default_target=Target")
    assert status == 200, body
    mine = body["version"]
    for process in stack.workers:
        process.terminate()
        process.wait(60)
    stack.workers.clear()
    stack.start_workers(2)
    status, body, _ = stack.request("GET", "/metadata?dataset=default")
    assert status == 200 and body["version"] == mine, body
    stack.redis().delete(keys.dataset_meta("default"), keys.dataset_data("default"))  # the built-in, for others
    default_dataset.ensure_loaded(stack.redis(), stack.settings)


# --- findings 7 and 9: DELETE /datasets/<name>; replacing removes the old version's models ----------

def _province_csv(rows: int, seed: int) -> bytes:
    buffer = io.StringIO()
    default_dataset.generate(rows=rows, seed=seed).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def _models(stack: Stack) -> int:
    return sum(1 for _ in stack.redis().scan_iter(match="shap:model:*:cbm"))


def test_delete_refuses_a_dataset_in_use_then_removes_it_with_its_models(stack: Stack) -> None:
    """A running analysis holds the dataset (409); after it ends, DELETE removes models and results."""
    status, upload = put(stack, "todelete", _province_csv(600, seed=11), "?id_columns=zip_code&default_target=Province")
    models_before = _models(stack)
    job_id = stack.analyze({"dataset": "todelete", "target_variable": "Province", "sample_size": 20})
    status, body, _ = stack.request("DELETE", "/datasets/todelete")
    assert_refusal(status, body, 409, "dataset_in_use")
    assert job_id in body["details"]["jobs"], body  # with the upload's training job, if it has not ended
    assert stack.wait_job(job_id)["status"] == "finished"
    assert stack.wait_job(upload["training_job_id"])["status"] == "finished"
    assert _models(stack) == models_before + 1  # trained once, by whichever job took the lock first
    status, body, _ = stack.request("DELETE", "/datasets/todelete")
    assert status == 200 and body["removed"] == {"models": 1, "results": 1}, body
    assert _models(stack) == models_before
    assert not stack.redis().exists(keys.job_result_head(job_id), keys.job_rows_table(job_id))
    status, body, _ = stack.request("GET", f"/job_status/{job_id}")
    assert status == 404 and "its dataset was replaced or deleted" in body["error"], body
    assert_refusal(*stack.request("GET", "/metadata?dataset=todelete")[:2], 400, "unknown_dataset")
    assert_refusal(*stack.request("DELETE", "/datasets/todelete")[:2], 400, "unknown_dataset")


def test_delete_refuses_a_dataset_whose_job_a_worker_popped_but_has_not_started(tmp_path) -> None:
    """A worker on several queues pops a job with BLPOP: until it starts it, the job is in no RQ queue or
    registry. DELETE still sees it (noted when it was enqueued), and sees it no more once it has ended."""
    server = RedisServer(tmp_path / "redis").start()
    web = Stack(server).start_web()  # no workers: this test pops the job as a worker would
    try:
        put(web, "popped", csv_bytes(60, y=lambda i: i % 5, x=lambda i: i % 7))
        job_id = web.analyze({"dataset": "popped", "target_variable": "y"})
        queue = JSONQueue(web.settings.queue_name, connection=server.client())
        assert queue.pop_job_id() == job_id and queue.count == 0  # RQ's own pop, as BLPOP does
        status, body, _ = web.request("DELETE", "/datasets/popped")
        assert_refusal(status, body, 409, "dataset_in_use")
        assert body["details"]["jobs"] == [job_id]
        JSONJob.fetch(job_id, connection=server.client()).cancel()  # ended: the dataset is free again
        assert web.request("DELETE", "/datasets/popped")[0] == 200
    finally:
        web.stop()
        server.stop()


def test_replacing_a_dataset_removes_its_old_models(stack: Stack) -> None:
    """PUT over a dataset whose model is stored: the replaced version's model and result are removed."""
    put(stack, "replaced", csv_bytes(60, y=lambda i: i % 5, x=lambda i: i % 7, z=lambda i: i % 3))
    models_before = _models(stack)
    job_id = stack.analyze({"dataset": "replaced", "target_variable": "y"})
    assert stack.wait_job(job_id)["status"] == "finished"
    assert _models(stack) == models_before + 1
    status, body = put(stack, "replaced", csv_bytes(60, y=lambda i: i % 4, x=lambda i: i % 7, z=lambda i: i % 3))
    assert status == 200 and body["removed"] == {"models": 1, "results": 1}, body
    assert _models(stack) == models_before


def test_health_and_queue_status_report_redis_memory(stack: Stack) -> None:
    """Both report Redis's memory used against maxmemory (null when unlimited)."""
    stack.redis().config_set("maxmemory", 512 * 2**20)
    try:
        for path in ("/health", "/admin/queue_status"):
            status, body, _ = stack.request("GET", path)
            assert status == 200, body
            memory = body["redis_memory"]
            assert memory["maxmemory_bytes"] == 512 * 2**20 and 0 < memory["used_fraction"] < 1, memory
    finally:
        stack.redis().config_set("maxmemory", 0)


def test_a_write_refused_for_memory_is_a_507(stack: Stack) -> None:
    """With Redis at maxmemory (noeviction), storing a dataset is a 507 saying what to do, not a 500."""
    client = stack.redis()
    # well below what is used: a margin of a few KB was flaky, the memory in use moves by more than that
    # (client buffers, the workers' heartbeats), and a write is refused only while usage is above the limit
    client.config_set("maxmemory", max(1, int(client.info("memory")["used_memory"]) // 2))
    try:
        status, body = put(stack, "oom", csv_bytes(50, y=lambda i: i % 5, x=lambda i: i))
        assert_refusal(status, body, 507, "insufficient_storage")
        assert "DELETE /datasets" in body["error"]
    finally:
        client.config_set("maxmemory", 0)


# --- finding 11: errors never echo a large input ---------------------------------------------------

@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/analyze", {"demographic_filters": ["Income > " + "9" * 1_000_000]}),
    ("POST", "/analyze", {"target_variable": "T" * 1_000_000}),
    ("POST", "/analyze", {"dataset": "d" * 1_000_000}),
    ("POST", "/analyze", {"data": [{"k" * 500_000: [1]}]}),
    ("GET", "/job_status/" + "j" * 4000 + "?fields=" + "f" * 4000, None),
])
def test_an_error_body_never_echoes_a_large_input(stack: Stack, method: str, path: str, body: dict | None) -> None:
    """Echoed values are cut to a few hundred characters (a 1 MB filter made a 3 MB error body)."""
    status, answer, _ = stack.request(method, path, body)
    assert 400 <= status < 500 and len(str(answer)) < 4000, (status, len(str(answer)))
    assert set(answer) <= {"success", "error", "code", "details"}


def test_long_names_in_fields_parquet_columns_and_content_type_are_cut_in_the_error(stack: Stack) -> None:
    """Thousands of unknown ?fields= names, a Parquet file repeating a 100 KB column name, a 100 KB
    Content-Type: each a short 400 (they were echoed whole: error bodies of 100-200 KB)."""
    job_id = stack.analyze({"sample_size": 5})
    assert stack.wait_job(job_id)["status"] == "finished"
    names = ",".join(f"nosuchfield{i}" for i in range(5000))
    status, body, _ = stack.request("GET", f"/job_status/{job_id}?fields={names}")
    assert_refusal(status, body, 400, "invalid_request")
    assert "nosuchfield0" in body["error"] and "4980 more" in body["error"], body
    long = "c" * 100_000
    column = pa.array(list(range(30)))
    parquet = io.BytesIO()
    pq.write_table(pa.table([column, column, column, column], names=["y", long, long, "x" * 100_000 + "!"]), parquet)
    status, body, _ = stack.request("PUT", "/datasets/longnames", raw=parquet.getvalue(),
                                    headers={"Content-Type": "application/vnd.apache.parquet"})
    assert_refusal(status, body, 400, "invalid_dataset")
    status, body, _ = stack.request("PUT", "/datasets/longnames", raw=b"y,x\n1,2\n",
                                    headers={"Content-Type": "text/" + "x" * 100_000})
    assert_refusal(status, body, 400, "invalid_dataset")


# --- finding 12: the cleanup's jobs are not the public API's ---------------------------------------

def test_a_job_outside_the_analysis_queue_is_unknown(stack: Stack) -> None:
    """/job_status of the scheduler's cleanup job (another queue) is a plain 404, as an unknown id."""
    queue = JSONQueue(stack.settings.maintenance_queue_name, connection=stack.redis())
    queue.enqueue_at(datetime.now(UTC) + timedelta(hours=1), "worker.maintenance.scheduled_cleanup",
                     job_id="shap-scheduled-cleanup")
    for method in ("GET", "DELETE"):
        status, body, _ = stack.request(method, "/job_status/shap-scheduled-cleanup")
        assert_refusal(status, body, 404, "not_found")
        assert "expired (RESULT_TTL)" not in body["error"]


# --- finding 13: the smaller ones ------------------------------------------------------------------

def test_data_values_of_the_wrong_type_are_named_in_the_warnings(stack: Stack) -> None:
    """`"Income": "abc"` is explained as missing, and a warning names its row and column."""
    job_id = stack.analyze({"data": [{"Income": "abc", "Age": 40}, {"Income": 70000, "Age": "old"}]})
    answer = stack.wait_job(job_id)
    assert answer["status"] == "finished", answer
    warnings = answer["result"]["warnings"]
    assert any("data[0]['Income']" in w and "not a number" in w for w in warnings), warnings
    assert any("data[1]['Age']" in w for w in warnings), warnings


@pytest.mark.parametrize(("body", "words"), [
    ({"sample_size": True}, "not true/false"),
    ({"sample_size": 1e20}, "MAX_ROWS"),
    ({"sample_size": 10**20}, "MAX_ROWS"),
])
def test_a_sample_size_that_is_no_row_count_is_refused_saying_what_to_send(stack: Stack, body: dict,
                                                                           words: str) -> None:
    """Booleans are not read as 1, and a huge number's message says what to send instead."""
    status, answer, _ = stack.request("POST", "/analyze", body)
    assert_refusal(status, answer, 400, "invalid_request")
    assert words in answer["error"], answer


def test_analyze_requires_a_json_content_type(stack: Stack) -> None:
    """A text/plain or form body (what a page on another site can post) is a 415, and nothing is enqueued."""
    before = queued(stack)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, body, _ = stack.request("POST", "/analyze", raw=b"{}", headers={"Content-Type": content_type})
        assert_refusal(status, body, 415, "unsupported_media_type")
    assert queued(stack) == before


def test_a_dry_run_asked_in_the_body_is_honoured_and_other_bodies_are_refused(stack: Stack) -> None:
    """`{"dry_run": true}` runs a dry run; `{"dryrun": 1}`, `{}` or a non-JSON body is a 400, never a real
    run."""
    status, body, _ = stack.request("POST", "/admin/cleanup_jobs", {"dry_run": True})
    assert status == 200 and body["dry_run"] is True, body
    for raw, content_type in ((b'{"dryrun": 1}', "application/json"), (b"dry_run=1", "text/plain"),
                              (b'{"dry_run": "yes"}', "application/json"), (b"{}", "application/json")):
        status, body, _ = stack.request("POST", "/admin/cleanup_jobs", raw=raw, headers={"Content-Type": content_type})
        assert_refusal(status, body, 400, "invalid_request")


def test_a_refused_upload_stores_no_dataset(stack: Stack) -> None:
    """A refused upload stores nothing (the index lists only valid datasets)."""
    wait_until(lambda: stack.request("GET", "/datasets")[0] == 200, 10)
    names = [d["name"] for d in stack.request("GET", "/datasets")[1]["datasets"]]
    assert "badcsv" not in names and "oom" not in names


def test_delete_reads_only_the_dataset_of_a_queued_analysis() -> None:
    """DELETE /datasets checks which dataset a queued analysis reads from its `dataset` field alone: the rest
    of its request (up to 100,000 `data` rows) is not validated under the dataset lock."""
    import redis

    from common import jobstates
    from common.rqtypes import JSONJob
    from web.dataset_routes import _dataset_of

    unused = redis.Redis(host="127.0.0.1", port=1)  # Job.create needs a connection; nothing is sent
    job = JSONJob.create(jobstates.ANALYSIS_FUNC, connection=unused,
                         kwargs={"request": {"dataset": " areas ", "data": "not rows", "sample_size": "x"}})
    assert _dataset_of(job) == "areas"
    planned = JSONJob.create(jobstates.ANALYSIS_FUNC, connection=unused,
                             kwargs={"plan": {"request": {"dataset": "areas", "data": "not rows"}, "task": 1}})
    assert _dataset_of(planned) == "areas"
    assert _dataset_of(JSONJob.create(jobstates.ANALYSIS_FUNC, connection=unused, kwargs={"request": {}})) == "default"
