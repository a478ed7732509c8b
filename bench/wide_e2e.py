"""The wide census-like table end to end (issue 12 point 5), through the service as `make run` starts it
(2 workers x 1 thread): the first analysis of a target (cold: the job trains), later ones (warm), and an
identical repeated request (answered from the first one's stored result), each with the jobs' own stage
timings. Baselines measured in the same run, in this process, on the same data:
  - cold: explain.training.train with the old parameters (LEGACY_PARAMS), one thread;
  - warm: CatBoost's native ShapValues alone on as many rows of the same model, one thread.
Also `default`'s warm analysis (1,500 rows) and its repeated request.

    .venv/bin/python bench/wide_e2e.py [--runs 7] [--cold-runs 2]
"""

from __future__ import annotations

import http.client
import time
from typing import Any

import orjson
from analysis_latency import end_to_end
from benchlib import arguments, emit, forget_models, job_meta, machine, median, rounded, running_service, scratch

from common import keys
from devtools import wide_table

WIDE_ROWS_EXPLAINED = 1650
STAGES = ("queue_wait_s", "dataset_load_s", "model_s", "shap_s", "result_s", "encode_s", "store_s", "total_s")


def breakdown(metas: list[dict[str, Any]]) -> dict[str, float]:
    timings = [m.get("timings", {}) for m in metas]
    return {s: rounded(median([float(t[s]) for t in timings if s in t])) for s in STAGES
            if any(s in t for t in timings)}


def repeated(service: Any, body: dict[str, Any], runs: int) -> dict[str, Any]:
    """POST an analysis identical to a finished one (200, cached) and GET its whole answer, keep-alive."""
    end_to_end(service, body)  # the first one computes (reuse on)
    seconds: list[float] = []
    size = 0
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
    try:
        for _ in range(runs):
            started = time.perf_counter()
            connection.request("POST", "/analyze", body=orjson.dumps(body),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = orjson.loads(response.read())
            assert response.status == 200 and answer["cached"] is True, answer
            connection.request("GET", answer["status_url"])
            payload = connection.getresponse().read()
            seconds.append(time.perf_counter() - started)
            size = len(payload)
    finally:
        connection.close()
    return {"median_s": rounded(median(seconds)), "min_s": rounded(min(seconds)), "answer_bytes": size}


def legacy_training_seconds(target: str) -> float:
    from explain.training import LEGACY_PARAMS, train

    frame = wide_table.generate()
    options = wide_table.options(target)
    features = [c for c in frame.columns if c not in {target, *options.id_columns, *options.exclude_columns}]
    started = time.perf_counter()
    train(frame, target, features, thread_count=1, params=LEGACY_PARAMS)
    return time.perf_counter() - started


def native_shap_seconds(client: Any, model_id: str, rows: int, repeats: int = 3) -> float:
    from catboost import Pool

    from analysis.features import feature_frame
    from explain.training import from_bytes

    meta = orjson.loads(client.get(keys.model_meta(model_id)))
    model = from_bytes(client.get(keys.model_blob(model_id)), meta)
    frame = wide_table.generate().iloc[:rows]
    pool = Pool(feature_frame(frame, meta.features, meta.cat_features), cat_features=meta.cat_features)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.get_feature_importance(type="ShapValues", data=pool, thread_count=1)
        times.append(time.perf_counter() - started)
    return median(times)


def wide_case(service: Any, runs: int, cold_runs: int) -> dict[str, Any]:
    target = wide_table.TARGETS[0]
    wide_table.upload(service, trained=False)  # the cold runs below train it
    body = {"dataset": "wide", "target_variable": target, "sample_size": WIDE_ROWS_EXPLAINED, "reuse": False}
    client = service.redis_client()
    cold, cold_metas, legacy = [], [], []
    for _ in range(cold_runs):
        forget_models(client)
        seconds, job_id, answer = end_to_end(service, body)
        assert answer["result"]["model"]["trained_in_this_job"], "cold run did not train"
        cold.append(seconds)
        cold_metas.append(job_meta(service, job_id))
        legacy.append(legacy_training_seconds(target))
    warm, warm_metas = [], []
    end_to_end(service, body)
    for _ in range(runs):
        seconds, job_id, answer = end_to_end(service, body)
        warm.append(seconds)
        warm_metas.append(job_meta(service, job_id))
    model_id = answer["result"]["model"]["id"]
    native = native_shap_seconds(client, model_id, WIDE_ROWS_EXPLAINED)
    trees = orjson.loads(client.get(keys.model_meta(model_id))).get("trees")
    engine = answer["result"].get("timings", {}).get("shap_engine") or answer["result"].get("timings", {}).get("engine")
    return {
        "rows_explained": answer["result"]["explained_rows"], "features": len(answer["result"]["model"]["features"]),
        "trees": trees, "shap_engine": engine,
        "cold_e2e_median_s": rounded(median(cold)), "cold_breakdown_s": breakdown(cold_metas),
        "legacy_training_median_s": rounded(median(legacy)),
        "ratio_cold_e2e_to_legacy_training": rounded(median(cold) / median(legacy), 3),
        "warm_e2e_median_s": rounded(median(warm)), "warm_breakdown_s": breakdown(warm_metas),
        "native_shap_values_s": rounded(native),
        "ratio_warm_e2e_to_native_shap": rounded(median(warm) / native, 3),
        "repeated": repeated(service, {**body, "reuse": True}, runs),
    }


def default_case(service: Any, runs: int) -> dict[str, Any]:
    body = {"target_variable": "Mortgage_Approvals", "sample_size": 1500, "reuse": False}
    end_to_end(service, body)
    warm, metas = [], []
    for _ in range(runs):
        seconds, job_id, _ = end_to_end(service, body)
        warm.append(seconds)
        metas.append(job_meta(service, job_id))
    return {"warm_e2e_median_s": rounded(median(warm)), "warm_breakdown_s": breakdown(metas),
            "repeated": repeated(service, {**body, "reuse": True}, runs)}


def main() -> None:
    args = arguments(__doc__, runs=7, cold_runs=2)
    with scratch("wide") as directory, running_service(directory, workers=2) as service:
        wide = wide_case(service, args.runs, args.cold_runs)
        default = default_case(service, args.runs)
    emit("wide_e2e", {"wide": wide, "default": default, "runs": args.runs, "cold_runs": args.cold_runs,
                      "machine": machine()})


if __name__ == "__main__":
    main()
