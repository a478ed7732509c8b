"""Where a 100,000-row analysis's time goes, job by job, through the whole service with ONE worker (so every warm
job runs on the worker parent that keeps the model's values: with two, the jobs alternate between parents and
the first warm job of the second one computes its values): the wide table resampled (bench/rows_answer.resampled)
uploaded, one cold Arrow client (the job trains), then `--warm` warm ones; per job its end-to-end seconds and
its stage timings (job meta "timings": dataset_load_s, model_s, shap_s, result_s, encode_s, store_s, total_s).

    .venv/bin/python bench/job_stages.py [--rows 100000] [--warm 5]
"""

from __future__ import annotations

import argparse
import time

from benchlib import emit, forget_models, job_meta, machine, median, rounded, running_service, scratch
from rows_answer import SIZES_ENV, arrow_client, drop_results, resampled

from devtools import wide_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--warm", type=int, default=5)
    args = parser.parse_args()
    started = machine()
    target = wide_table.TARGETS[0]
    frame = resampled(args.rows)
    jobs = []
    with scratch("job-stages") as directory, running_service(
            directory / "service", {**SIZES_ENV, "WORKER_COUNT": "1", "THREADS_PER_JOB": "1"}, workers=1) as service:
        name = f"wide{args.rows}"
        wide_table.upload(service, name, trained=False, data=frame.to_csv(index=False).encode(), timeout=600)
        body = {"dataset": name, "target_variable": target, "sample_size": args.rows, "reuse": False}
        client = service.redis_client()
        forget_models(client)
        for run in range(1 + args.warm):
            seconds, job_id = arrow_client(service.port, body)
            timings = job_meta(service, job_id).get("timings", {})
            jobs.append({"cold": run == 0, "end_to_end_s": rounded(seconds, 3),
                         **{k: rounded(v, 3) for k, v in timings.items() if isinstance(v, int | float)}})
            print(jobs[-1], flush=True)
            drop_results(client, [job_id])
            if run == 0:
                time.sleep(5)  # the worker parent computes the model's every-row values after the cold job
    warm = jobs[1:]
    emit("job_stages", {"machine": machine(), "load_avg_at_start": started["load_avg"], "rows": args.rows,
                        "jobs": jobs, "warm_medians": {k: rounded(median([j[k] for j in warm if k in j]), 3)
                                                       for k in warm[0] if k != "cold"}})


if __name__ == "__main__":
    main()
