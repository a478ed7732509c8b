"""Scaling curve (issue 12 point 5): the 30-column table of bench/memory.py at 1k, 10k and 100k rows (and
MAX_ROWS when larger), every row explained, through the service as `make run` starts it (2 workers x 1
thread). For each size: the first analysis (cold: the job trains) and a later one (warm), end-to-end
seconds, the jobs' own stage seconds and the work horse's peak RSS (VmHWM, reported by the horse).
The 100,000-row warm and cold rows are the "100,000 x 30 analysis" figures; bench/memory.py's earlier
figures (10.76 s with training, peak 498.7 MB, AGGRESSIVE_MEMORY_MANAGEMENT off) are the baseline
recorded in bench/results.json.

    .venv/bin/python bench/scaling.py [--rows 1000,10000,100000]
"""

from __future__ import annotations

import argparse
from typing import Any

from analysis_latency import end_to_end
from benchlib import emit, job_meta, machine, rounded, running_service, scratch
from memory import tall_csv

STAGES = ("queue_wait_s", "dataset_load_s", "model_s", "shap_s", "result_s", "encode_s", "store_s", "total_s")


def one(service: Any, rows: int) -> dict[str, Any]:
    name = f"tall-{rows}"
    status, answer, _ = service.put(f"/datasets/{name}?id_columns=row_id", raw=tall_csv(rows),
                                    headers={"Content-Type": "text/csv"}, timeout=300)
    assert status in (200, 201), answer
    body = {"dataset": name, "target_variable": "y", "reuse": False}
    figures: dict[str, Any] = {"rows": rows}
    for case in ("cold", "warm"):
        seconds, job_id, result = end_to_end(service, body)
        assert result["result"]["model"]["trained_in_this_job"] == (case == "cold")
        meta = job_meta(service, job_id)
        timings = meta.get("timings", {})
        figures[case] = {"e2e_s": rounded(seconds, 3), "peak_rss_mb": meta.get("peak_rss_mb"),
                         "stages_s": {s: rounded(float(timings[s]), 3) for s in STAGES if s in timings},
                         "shap_engine": timings.get("shap_engine"),
                         "explained_rows": result["result"]["explained_rows"]}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000,10000,100000")
    args = parser.parse_args()
    sizes = [int(r) for r in args.rows.split(",") if r]
    env = {"MAX_ROWS": str(max(max(sizes), 100000)), "MAX_UPLOAD_MB": "200", "JOB_TIMEOUT": "1800"}
    with scratch("scaling") as directory, running_service(directory, env, workers=2) as service:
        curve = [one(service, rows) for rows in sizes]
    emit("scaling", {"curve": curve, "columns": 30, "layout": "2 workers x 1 thread", "machine": machine()})


if __name__ == "__main__":
    main()
