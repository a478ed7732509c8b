"""Queue overhead (issue 5 item 2): trivial jobs through the HTTP API vs straight into RQ, same workers.

The service has no job type cheaper than an analysis, so the "trivial" job is the smallest analysis
there is: one `data` row explained with the cached model. HTTP path: POST /analyze for every job, then
GET /job_status/<id>?wait=30 for each, over one keep-alive connection. RQ path: the same normalized
request enqueued with RQ's own Queue.enqueue (same options as the web) and awaited with RQ's own
Job.latest_result(timeout=...).
Rounds alternate between the two paths; jobs/s is the median over rounds.

    .venv/bin/python bench/queue_overhead.py [--jobs 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from typing import Any

from benchlib import emit, machine, median, rounded, running_service, scratch, wait_finished

from common.jobstates import TERMINAL

TRIVIAL: dict[str, Any] = {"target_variable": "Mortgage_Approvals", "data": [{"Income": 65000, "Age": 41}],
                           "reuse": False}


def call(connection: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> dict[str, Any]:
    payload = json.dumps(body).encode() if body is not None else None
    connection.request(method, path, body=payload, headers={"Content-Type": "application/json"} if payload else {})
    response = connection.getresponse()
    return json.loads(response.read())


def http_round(service: Any, jobs: int) -> float:
    """Submit every job, then await each with ?wait=, over one keep-alive connection (as a client
    library with a session does)."""
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
    try:
        started = time.perf_counter()
        ids = [call(connection, "POST", "/analyze", TRIVIAL)["job_id"] for _ in range(jobs)]
        for job_id in ids:
            answer = call(connection, "GET", f"/job_status/{job_id}?wait=30")
            while answer["status"] not in TERMINAL:
                answer = call(connection, "GET", f"/job_status/{job_id}?wait=30")
            if answer["status"] != "finished":
                raise RuntimeError(f"job {job_id} ended {answer['status']}")
        return jobs / (time.perf_counter() - started)
    finally:
        connection.close()


def rq_round(queue: Any, request: dict[str, Any], jobs: int) -> float:
    from rq import Retry

    from common import jobstates

    settings = queue.settings
    started = time.perf_counter()
    enqueued = [queue.enqueue(jobstates.ANALYSIS_FUNC, kwargs={"request": request}, job_timeout=settings.job_timeout,
                              result_ttl=settings.result_ttl, failure_ttl=settings.failure_ttl,
                              retry=Retry(max=settings.job_retries) if settings.job_retries else None,
                              meta={"progress": {"stage": "queued", "percent": 0}})
                for _ in range(jobs)]
    for job in enqueued:
        result = job.latest_result(timeout=60)
        if result is None or result.type != result.Type.SUCCESSFUL:
            raise RuntimeError(f"job {job.id} did not succeed: {result and result.exc_string}")
    return jobs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from common.rqtypes import JSONJob, JSONQueue
    from common.settings import Settings

    with scratch("queue") as directory, running_service(directory, workers=2) as service:
        first = service.analyze(TRIVIAL)
        wait_finished(service, first)  # trains the model once
        client = service.redis_client()
        request = JSONJob.fetch(first, connection=client).kwargs["request"]
        settings = Settings.from_env(service.environ())
        queue = JSONQueue(settings.queue_name, connection=client, default_timeout=settings.job_timeout)
        queue.settings = settings  # type: ignore[attr-defined]
        http_round(service, 4)  # warm both paths
        rq_round(queue, request, 4)
        via_http: list[float] = []
        via_rq: list[float] = []
        for _ in range(args.rounds):
            via_http.append(http_round(service, args.jobs))
            via_rq.append(rq_round(queue, request, args.jobs))

    emit("queue_overhead", {
        "jobs_per_round": args.jobs,
        "rounds": args.rounds,
        "workers": 2,
        "http_jobs_per_s": rounded(median(via_http), 2),
        "rq_jobs_per_s": rounded(median(via_rq), 2),
        "ratio_http_to_rq": rounded(median(via_http) / median(via_rq), 3),
        "target_ratio": 0.8,
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
