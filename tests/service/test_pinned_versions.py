"""Pinned dataset versions (issue 20, docs/decisions/0017-pinned-dataset-versions.md): a replace succeeds at
once for new requests, and an analysis accepted on the previous version still explains that version, whether
the replace came before a worker started it or after it started but before it loaded the rows; its result
says so, and is reused only for that version. Real web, Redis and (forking or in-process) RQ workers."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
import redis

from common import keys
from common.rqtypes import JSONJob, JSONQueue
from devtools import rq_state
from devtools.redis_server import RedisServer
from devtools.stack import Stack
from devtools.waiting import wait_until

NAME = "pinned"
REQUEST = {"dataset": NAME, "target_variable": "y"}


def upload(stack: Stack, rows: int, scale: int) -> str:
    """Store dataset NAME with `rows` rows (y depends on x by `scale`); returns its version."""
    frame = pd.DataFrame({"x": [i % 7 for i in range(rows)], "z": [i % 3 for i in range(rows)]})
    data = frame.assign(y=frame["x"] * scale + frame["z"]).to_csv(index=False).encode()
    status, body, _ = stack.request("PUT", f"/datasets/{NAME}", raw=data, headers={"Content-Type": "text/csv"})
    assert status in (200, 201), body
    return str(body["version"])


@pytest.fixture
def web(redis_server: RedisServer) -> Iterator[Stack]:
    running = Stack(redis_server).start_web()
    yield running
    running.stop()


def assert_explains(answer: dict, version: str, rows: int) -> None:
    result = answer["result"]
    assert answer["status"] == "finished", answer
    assert (result["version_info"]["dataset_version"], result["selected_rows"]) == (version, rows)
    assert not [w for w in result["warnings"] if "replaced" in w], result["warnings"]


def test_a_replace_before_the_job_starts_leaves_it_its_version(web: Stack) -> None:
    """Enqueue on v1, replace with v2 (new requests see v2 at once), then start a worker: the job explains
    v1; v1's kept copy goes when the job ends; the identical request on v2 is computed afresh, and
    re-uploading v1's bytes is answered by the job that explained v1."""
    v1 = upload(web, 60, 1)
    job_id = web.analyze(REQUEST)
    v2 = upload(web, 90, 3)
    client = web.redis()
    assert v2 != v1
    status, checked, _ = web.post("/filters/validate", REQUEST)
    assert (status, checked["dataset_version"], checked["selected_rows"]) == (200, v2, 90)
    web.start_workers(1)
    assert_explains(web.wait_job(job_id), v1, 60)
    wait_until(lambda: not client.exists(keys.version_pins(v1)), 10, message="v1's pins to go")
    assert_kept_for_its_result(web, job_id, v1, 60)
    status, on_v2, _ = web.post("/analyze", REQUEST)
    assert (status, on_v2["cached"]) == (202, False), on_v2
    assert_explains(web.wait_job(on_v2["job_id"]), v2, 90)
    assert upload(web, 60, 1) == v1
    status, on_v1, _ = web.post("/analyze", REQUEST)
    assert (status, on_v1["cached"], on_v1["job_id"]) == (200, True, job_id), on_v1


def test_a_replace_after_the_job_started_but_before_it_loaded_leaves_it_its_version(web: Stack) -> None:
    """The job is started on a worker (RQ's own calls, in this process) and not yet run; the dataset is
    replaced (a delete is refused while the job runs); the job, run now, loads and explains the version it
    was accepted on; when its worker releases it, the kept copy and v1's models go."""
    from worker import context, rq_worker

    v1 = upload(web, 60, 1)
    job_id = web.analyze(REQUEST)
    client, queue_name = web.redis(), web.settings.queue_name
    worker = rq_state.rq_worker(client, queue_name, listening=False)
    job = rq_state.begin_execution(worker, queue_name)
    assert (job.id, job.get_status(refresh=True)) == (job_id, "started")
    status, refused, _ = web.request("DELETE", f"/datasets/{NAME}")
    assert (status, refused["code"]) == (409, "dataset_in_use")
    v2 = upload(web, 90, 3)
    assert v2 != v1
    context.install(context.WorkerContext(web.settings, client))
    worker.perform_job(job, JSONQueue(queue_name, connection=client))  # the work horse's part, here
    assert_explains(web.wait_job(job_id, timeout=5), v1, 60)
    assert client.exists(keys.version_data(v1))  # until the worker parent sees the job ended
    rq_worker.release_version(JSONJob.fetch(job_id, connection=client))
    assert not client.exists(keys.version_pins(v1))
    assert not client.smembers(keys.version_models(v1)) and client.exists(keys.version_retired(v1))
    assert_kept_for_its_result(web, job_id, v1, 60)


def assert_kept_for_its_result(web: Stack, job_id: str, version: str, rows: int) -> None:
    """The replaced version's rows stay while the job's result references them (its rows' feature values are
    read from them: docs/decisions/0020), as long as the result, and the result reads them."""
    client = web.redis()
    assert client.exists(keys.version_data(version), keys.version_meta(version)) == 2
    assert 0 < client.pttl(keys.version_data(version)) <= client.pttl(keys.job_result_head(job_id)) + 1000
    status, values, _ = web.get(f"/job_status/{job_id}/feature_values")
    assert status == 200 and values["values"]["x"] == [i % 7 for i in range(rows)]
    result = web.wait_job(job_id)["result"]
    assert all(top["value"] == values["values"][top["feature"]][i]
               for i, row in enumerate(result["results"]) for top in row["top_contributors"])


def stored(client: redis.Redis, rows: int, scale: int) -> str:
    """Store dataset NAME as PUT /datasets does (store.dataset_store.store); returns its version."""
    from analysis import columnar, datasets
    from store import dataset_store

    frame = pd.DataFrame({"x": [i % 7 for i in range(rows)], "z": [i % 3 for i in range(rows)]})
    data = frame.assign(y=frame["x"] * scale + frame["z"]).to_csv(index=False).encode()
    meta, parsed = datasets.describe(data, datasets.DatasetOptions(), name=NAME, max_rows=10_000)
    dataset_store.store(client, meta, columnar.to_arrow(parsed))
    return meta.version


def test_a_pinned_version_is_kept_through_a_replace_until_its_last_job_releases_it(redis_server: RedisServer):
    """The store's rules alone: a replace moves a pinned version to its keys (readable by load_version);
    each release counts once, and a pin whose job ended without releasing it (or expired) holds nothing; the
    last one removes the copy and the version's models; a version nobody
    pinned goes with its replace, as before; and an enqueue that WATCHed the dataset's meta fails when a
    replace came in between (so it checks the request again rather than pin a moved version)."""
    from store import dataset_store

    client = redis_server.client()
    v1 = stored(client, 60, 1)
    with client.pipeline() as pipe:
        for job_id, status in (("a", "queued"), ("b", "started"), ("ended", "failed"), ("expired", None)):
            dataset_store.pin(pipe, v1, job_id)
            if status is not None:
                pipe.hset(f"rq:job:{job_id}", "status", status)
        pipe.execute()
    client.sadd(keys.version_models(v1), "m1")
    client.set(keys.model_blob("m1"), b"model")
    v2 = stored(client, 90, 3)
    assert [dataset_store.load_version(client, NAME, v)[0].rows for v in (v1, v2)] == [60, 90]
    for job_id in ("a", "a"):  # a release counts once
        dataset_store.release(client, v1, job_id)
    assert client.exists(keys.version_data(v1), keys.model_blob("m1")) == 2
    client.hset("rq:job:b", "status", "finished")
    dataset_store.release(client, v1, "b")  # the pins left are of jobs that ended without a release, or expired
    assert not client.exists(keys.version_data(v1), keys.version_meta(v1), keys.model_blob("m1"))
    with pytest.raises(dataset_store.VersionGone):
        dataset_store.load_version(client, NAME, v1)
    stored(client, 70, 5)  # v2 had no pins: nothing is kept of it
    assert not client.exists(keys.version_data(v2)) and dataset_store.load_version_meta(client, NAME, v2) is None
    with client.pipeline() as pipe:
        pipe.watch(keys.dataset_meta(NAME))
        stored(redis_server.client(), 80, 2)
        pipe.multi()
        dataset_store.pin(pipe, v2, "c")
        with pytest.raises(redis.WatchError):
            pipe.execute()
