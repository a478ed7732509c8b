"""The cost of an interactions analysis (SHAP interaction values, explain.interactions) through the service as
`make run` starts it (2 workers x 1 thread), on `default` (1,500 rows) and on the wide table (1,650 rows):
end to end, warm (model stored), with the jobs' own `interactions_s`. Baselines measured in the same run:
  - the plain correlation analysis of the same rows, same service (ratio interactions / correlation);
  - CatBoost's native ShapInteractionValues per row on the same model, in this process, one thread (what
    the leaf tables replace; measured on a few rows only, it takes seconds per row on the wide table).

    .venv/bin/python bench/interactions.py [--runs 5] [--native-rows 3]
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from analysis_latency import end_to_end
from benchlib import arguments, emit, job_meta, machine, median, rounded, running_service, scratch

from common import keys
from devtools import wide_table
from store import default_dataset


def native_seconds_per_row(client: Any, model_id: str, frame: Any, rows: int) -> float:
    """CatBoost's native ShapInteractionValues on `rows` rows of the model, one thread: seconds per row."""
    from catboost import Pool

    from analysis.features import feature_frame
    from explain.training import from_bytes

    meta = orjson.loads(client.get(keys.model_meta(model_id)))
    model = from_bytes(client.get(keys.model_blob(model_id)), meta)
    pool = Pool(feature_frame(frame.iloc[:rows], meta.features, meta.cat_features),
                cat_features=meta.cat_features)
    started = time.perf_counter()
    model.get_feature_importance(type="ShapInteractionValues", data=pool, thread_count=1)
    return (time.perf_counter() - started) / rows


def case(service: Any, body: dict[str, Any], frame: Any, runs: int, native_rows: int) -> dict[str, Any]:
    """Warm correlation and interactions analyses of the same rows, alternated, `runs` times each."""
    end_to_end(service, body)  # trains (or finds) the model
    plain, inter, inter_s, shap_s = [], [], [], []
    for _ in range(runs):
        seconds, _, _ = end_to_end(service, body)
        plain.append(seconds)
        seconds, job_id, answer = end_to_end(service, {**body, "analysis_type": "interactions"})
        inter.append(seconds)
        timings = job_meta(service, job_id).get("timings", {})
        inter_s.append(float(timings.get("interactions_s", 0.0)))
        shap_s.append(float(timings.get("shap_s", 0.0)))
    result = answer["result"]
    per_row = native_seconds_per_row(service.redis_client(), result["model"]["id"], frame, native_rows)
    leaf_per_row = median(inter_s) / result["explained_rows"]
    return {
        "rows": result["explained_rows"], "features": len(result["model"]["features"]),
        "engine": result["interactions"]["engine"],
        "correlation_e2e_median_s": rounded(median(plain)), "interactions_e2e_median_s": rounded(median(inter)),
        "ratio_interactions_to_correlation": rounded(median(inter) / median(plain), 3),
        "interactions_stage_median_s": rounded(median(inter_s)), "shap_stage_median_s": rounded(median(shap_s)),
        "answer_strongest_pair": [result["interactions"]["pairs"][0]["feature"],
                                  result["interactions"]["pairs"][0]["with"]],
        "native_s_per_row": rounded(per_row), "native_rows_measured": native_rows,
        "ratio_native_to_leaf_table_per_row": rounded(per_row / leaf_per_row, 1),
    }


def main() -> None:
    args = arguments(__doc__, runs=5, native_rows=3)
    with scratch("interactions") as directory, running_service(directory, workers=2) as service:
        target = wide_table.TARGETS[0]
        wide_table.upload(service, target=target)
        default = case(service, {"target_variable": "Mortgage_Approvals", "sample_size": 1500, "reuse": False},
                       default_dataset.generate(), args.runs, args.native_rows)
        wide = case(service, {"dataset": "wide", "target_variable": target, "sample_size": 1650, "reuse": False},
                    wide_table.generate(), args.runs, args.native_rows)
    emit("interactions", {"default": default, "wide": wide, "runs": args.runs, "machine": machine()})


if __name__ == "__main__":
    main()
