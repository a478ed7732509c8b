"""The page's single-row editor (issue 23 item 1): from a changed value to its answer, through the HTTP API the page
uses. Each change is one POST /analyze of the edited row as `data` (the built-in table `default`, target
Mortgage_Approvals, the model trained once by the first request), then GET /job_status/<id>?wait=30 until it is
finished; the clock stops at the finished answer's last byte, as in bench/analysis_latency.py. Every change gives
the row another Income, so no answer is a stored one (the page sends reuse true, as here). The page debounces
changes (row_editor.js, DEBOUNCE_MS 250) and draws the waterfall after the answer (a few ms); the figure the page's
user sees is the debounce plus this. Baseline in the same run: the identical request repeated, answered from the
stored result without a job (what the service adds to it is the job: queue, worker, SHAP of one row).

Target: debounce + p90 change -> answer ≤ 1 s, the new waterfall within 1 s of the change.

    .venv/bin/python bench/row_editor.py [--changes 40]
"""

from __future__ import annotations

import time
from typing import Any

from analysis_latency import end_to_end
from benchlib import arguments, emit, job_meta, machine, median, percentile, rounded, running_service, scratch

STAGES = ("queue_wait_s", "dataset_load_s", "model_s", "shap_s", "result_s", "encode_s", "store_s", "total_s")
DEBOUNCE_S = 0.25  # web/static/page/row_editor.js DEBOUNCE_MS
BASE = {"dataset": "default", "target_variable": "Mortgage_Approvals", "analysis_type": "correlation"}


def first_row(service: Any) -> dict[str, Any]:
    """A row of the table as the page loads one: an analysis's row 1, every feature's value (GET .../rows)."""
    _, job_id, _ = end_to_end(service, {**BASE, "sample_size": 25})  # trains the model: the first use of the target
    status, table, _ = service.get(f"/job_status/{job_id}/rows?format=json&columns=row,value_*&offset=0&limit=1")
    assert status == 200, table
    return {name.removeprefix("value_"): column[0] for name, column in table.items() if name.startswith("value_")}


def timed(service: Any, row: dict[str, Any]) -> tuple[float, str, dict[str, Any]]:
    return end_to_end(service, {**BASE, "data": [row]})


def main() -> None:
    args = arguments(__doc__, changes=40)
    with scratch("row-editor") as directory, running_service(directory, workers=2) as service:
        started = time.perf_counter()
        row = first_row(service)
        first_s = time.perf_counter() - started
        timed(service, row)  # warm: the workers' first read of the model
        changed, stored = [], []
        stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
        for change in range(args.changes):
            edited = {**row, "Income": 40000 + 1000 * change}
            seconds, job_id, answer = timed(service, edited)
            assert answer["result"]["explained_rows"] == 1
            changed.append(seconds)
            timings = job_meta(service, job_id).get("timings", {})
            for stage in STAGES:
                if stage in timings:
                    stages[stage].append(float(timings[stage]))
            stored.append(timed(service, edited)[0])  # the same request again: the stored answer
    p50, p90 = median(changed), percentile(changed, 90)
    emit("row_editor", {
        "changes": args.changes,
        "first_analysis_with_training_s": rounded(first_s),
        "change_to_answer_median_s": rounded(p50),
        "change_to_answer_p90_s": rounded(p90),
        "change_to_answer_max_s": rounded(max(changed)),
        "stored_answer_median_s": rounded(median(stored)),
        "ratio_change_to_stored": rounded(p50 / median(stored), 2),
        "job_stages_median_s": {stage: rounded(median(v)) for stage, v in stages.items() if v},
        "debounce_s": DEBOUNCE_S,
        "page_change_to_waterfall_p90_s": rounded(DEBOUNCE_S + p90),
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
