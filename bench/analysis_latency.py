"""Analysis latency (issue 2's benchmark, issue 5 item 1).

End to end: POST /analyze, then GET /job_status/<id>?wait=30 until it answers `finished`, model cached,
1,500 rows of `default` explained; median of several runs. Floor: the same analysis computed in this
process by `worker.jobs.compute` with a worker context on the same Redis (same THREADS_PER_JOB). The
two are interleaved run by run, so machine noise hits both alike. Also the cold case (every stored
model deleted first, so the job trains) and the breakdown from the job's own timings.

    .venv/bin/python bench/analysis_latency.py [--runs 15] [--cold-runs 3]
"""

from __future__ import annotations

import argparse
import http.client
import time
from typing import Any

import orjson
from benchlib import (
    DEFAULT_ANALYSIS,
    emit,
    forget_models,
    job_meta,
    machine,
    median,
    rounded,
    running_service,
    scratch,
)

from common.jobstates import TERMINAL

STAGES = ("queue_wait_s", "dataset_load_s", "model_s", "shap_s", "result_s", "encode_s", "store_s", "total_s")


def end_to_end(service: Any, body: dict[str, Any]) -> tuple[float, str, dict[str, Any]]:
    """POST /analyze, then GET /job_status/<id>?wait=30 until finished, on one keep-alive connection.
    The clock stops when the finished answer's last byte has arrived (parsing it is the client's own
    business: orjson after the clock; the stdlib json module would add ~15 ms for 1.5 MB)."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
    try:
        started = time.perf_counter()
        connection.request("POST", "/analyze", body=orjson.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        job_id = orjson.loads(response.read())["job_id"]
        while True:
            connection.request("GET", f"/job_status/{job_id}?wait=30")
            payload = connection.getresponse().read()
            seconds = time.perf_counter() - started
            answer = orjson.loads(payload)
            if answer["status"] in TERMINAL:
                break
    finally:
        connection.close()
    if answer["status"] != "finished":
        raise RuntimeError(f"job {job_id} ended {answer['status']}: {answer.get('error')}")
    return seconds, job_id, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()

    body = dict(DEFAULT_ANALYSIS)
    with scratch("latency") as directory, running_service(directory, workers=2) as service:
        client = service.redis_client()

        cold: list[float] = []
        cold_meta: list[dict[str, float]] = []
        for _ in range(args.cold_runs):
            forget_models(client)
            seconds, job_id, answer = end_to_end(service, body)
            assert answer["result"]["model"]["trained_in_this_job"], "cold run did not train"
            cold.append(seconds)
            cold_meta.append(job_meta(service, job_id).get("timings", {}))

        # The floor runs in this process, against the same Redis, with the request the web enqueued.
        from analysis.encoding import encode
        from analysis.plan import AnalysisPlan
        from common.redis_conn import worker_redis
        from common.rqtypes import JSONJob
        from common.settings import Settings
        from worker import context
        from worker.jobs import compute

        request = AnalysisPlan.model_validate(JSONJob.fetch(job_id, connection=client).kwargs["plan"])
        settings = Settings.from_env(service.environ())
        context.install(context.WorkerContext(settings, worker_redis(settings)))
        compute(request)  # warm: this process parses the dataset once, as a worker parent does before forking

        warm: list[float] = []
        floor: list[float] = []
        floor_encode: list[float] = []
        breakdown: dict[str, list[float]] = {stage: [] for stage in STAGES}
        result_bytes = 0
        end_to_end(service, body)  # one warm-up of the service path too
        for _ in range(args.runs):
            seconds, job_id, answer = end_to_end(service, body)
            assert not answer["result"]["model"]["trained_in_this_job"]
            warm.append(seconds)
            timings = job_meta(service, job_id).get("timings", {})
            for stage in STAGES:
                if stage in timings:
                    breakdown[stage].append(float(timings[stage]))
            started = time.perf_counter()
            result = compute(request)
            floor.append(time.perf_counter() - started)
            payload = encode(result)
            floor_encode.append(time.perf_counter() - started)
            result_bytes = len(payload)

    e2e, base, base_enc = median(warm), median(floor), median(floor_encode)
    other = e2e - median(breakdown["total_s"]) - median(breakdown["queue_wait_s"])
    emit("analysis_latency", {
        "rows_explained": 1500,
        "result_bytes": result_bytes,
        "e2e_warm_median_s": rounded(e2e),
        "e2e_warm_min_s": rounded(min(warm)),
        "floor_compute_median_s": rounded(base),
        "floor_compute_encode_median_s": rounded(base_enc),
        "ratio_e2e_to_floor": rounded(e2e / base, 3),
        "ratio_e2e_to_floor_with_encode": rounded(e2e / base_enc, 3),
        "target_ratio": 1.25,
        "e2e_cold_median_s": rounded(median(cold)),
        "cold_training_median_s": rounded(median([m.get("model_s", 0.0) for m in cold_meta])),
        "breakdown_median_s": {stage: rounded(median(values)) for stage, values in breakdown.items() if values},
        "outside_job_median_s": rounded(other),
        "runs": args.runs,
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
