"""Throughput and worker layout (issue 5 item 4): analyses per minute for 40 queued analyses with
WORKER_COUNT x THREADS_PER_JOB at 1x2, 2x1 and 4x1 on this machine.

Each layout gets its own service; the model is trained by one warm-up analysis first, then the 40
analyses (the latency benchmark's 1,500-row analysis of `default`) are all submitted at once and awaited.

    .venv/bin/python bench/throughput.py [--jobs 40] [--layouts 1x2,2x1,4x1]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchlib import DEFAULT_ANALYSIS, emit, machine, rounded, running_service, scratch, wait_finished


def layout_run(workers: int, threads: int, jobs: int) -> dict[str, Any]:
    env = {"WORKER_COUNT": str(workers), "THREADS_PER_JOB": str(threads)}
    with scratch(f"throughput-{workers}x{threads}") as directory, \
            running_service(directory, env, workers=workers) as service:
        wait_finished(service, service.analyze(DEFAULT_ANALYSIS))  # trains the model
        started = time.perf_counter()
        ids = [service.analyze(DEFAULT_ANALYSIS) for _ in range(jobs)]
        for job_id in ids:
            wait_finished(service, job_id, timeout=600)
        seconds = time.perf_counter() - started
    return {"workers": workers, "threads_per_job": threads, "seconds": rounded(seconds, 2),
            "analyses_per_min": rounded(60 * jobs / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--layouts", default="1x2,2x1,4x1")
    args = parser.parse_args()
    results = {}
    for layout in args.layouts.split(","):
        workers, threads = (int(part) for part in layout.split("x"))
        results[layout] = layout_run(workers, threads, args.jobs)
    best = max(results, key=lambda name: results[name]["analyses_per_min"])
    base = results.get("2x1") or next(iter(results.values()))
    emit("throughput", {
        "jobs": args.jobs,
        "layouts": results,
        "best_layout": best,
        "ratios_to_2x1": {name: rounded(r["analyses_per_min"] / base["analyses_per_min"], 3)
                          for name, r in results.items()},
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
