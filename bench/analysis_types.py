"""The cost of the deeper questions (analysis_type comparison and what_if) through the service as `make run`
starts it (2 workers x 1 thread), on `default` (1,500 rows) and on the wide table (1,650 rows x 131
features), warm (the model is trained by a first request). Baseline, in the same run: the plain correlation
analysis of the same rows. The comparison's cohorts partition the selected rows, so all three analyses
explain the same rows; the what-if analysis has two scenarios (each one more SHAP pass of those rows).

    .venv/bin/python bench/analysis_types.py [--runs 5]
"""

from __future__ import annotations

from typing import Any

import orjson
from analysis_latency import end_to_end
from benchlib import arguments, emit, job_meta, machine, median, rounded, running_service, scratch

from analysis.comparison import BOOTSTRAP_RESAMPLES
from devtools import wide_table

STAGES = ("shap_s", "result_s", "question_s", "encode_s", "store_s", "total_s")
CASES: dict[str, dict[str, Any]] = {
    "default": {
        "base": {"target_variable": "Mortgage_Approvals", "sample_size": 1500, "reuse": False},
        "cohorts": {"urban": ["Urban_Rural == Urban"], "suburban": ["Urban_Rural == Suburban"], "rest": []},
        "scenarios": [{"name": "income +10%", "multiply": {"Income": 1.1}},
                      {"name": "credit +20", "add": {"Credit_Score_Avg": 20}}],
    },
    "wide": {
        "base": {"dataset": "wide", "target_variable": wide_table.TARGETS[0], "sample_size": 1650, "reuse": False},
        "cohorts": {"high income": ["high Median_Household_Income"], "rest": []},
        "scenarios": [{"name": "income +10%", "multiply": {"Median_Household_Income": 1.1}},
                      {"name": "unemployment +1", "add": {"Unemployment_Rate": 1}}],
    },
}


def measure(service: Any, body: dict[str, Any], runs: int) -> dict[str, Any]:
    """Median seconds end to end (POST to the last byte of the finished answer) and the jobs' own stages."""
    end_to_end(service, body)  # warm: trains the model on the first request of a dataset
    seconds, metas, size, rows = [], [], 0, 0
    for _ in range(runs):
        elapsed, job_id, answer = end_to_end(service, body)
        seconds.append(elapsed)
        metas.append(job_meta(service, job_id).get("timings", {}))
        size, rows = len(orjson.dumps(answer)), answer["result"]["explained_rows"]
    stages = {s: rounded(median([float(t[s]) for t in metas if s in t])) for s in STAGES if any(s in t for t in metas)}
    return {"e2e_median_s": rounded(median(seconds)), "stages_s": stages, "answer_bytes": size, "rows": rows}


def case(service: Any, name: str, runs: int) -> dict[str, Any]:
    spec = CASES[name]
    base = spec["base"]
    plain = measure(service, base, runs)
    compared = measure(service, {**base, "analysis_type": "comparison", "cohorts": spec["cohorts"]}, runs)
    what_if = measure(service, {**base, "analysis_type": "what_if", "scenarios": spec["scenarios"]}, runs)
    assert plain["rows"] == compared["rows"] == what_if["rows"], (plain, compared, what_if)
    return {"correlation": plain, "comparison": compared, "what_if": what_if,
            "cohorts": len(spec["cohorts"]), "scenarios": len(spec["scenarios"]),
            "ratio_comparison_to_correlation": rounded(compared["e2e_median_s"] / plain["e2e_median_s"], 3),
            "ratio_what_if_to_correlation": rounded(what_if["e2e_median_s"] / plain["e2e_median_s"], 3)}


def main() -> None:
    args = arguments(__doc__, runs=5)
    with scratch("types") as directory, running_service(directory, workers=2) as service:
        wide_table.upload(service)
        figures = {name: case(service, name, args.runs) for name in CASES}
    emit("analysis_types", {**figures, "bootstrap_resamples": BOOTSTRAP_RESAMPLES, "runs": args.runs,
                            "machine": machine()})


if __name__ == "__main__":
    main()
