"""Issue 19: the columnar answer against the JSON one, through the whole service (`make run`: 2 workers x 1
thread), on the wide census-like table resampled with noise to each size (1,650 rows is the table itself).

Per size, in one run: cold (the job trains) and warm end to end for a JSON client (POST, long-poll until the
whole JSON result has arrived, orjson.loads) and for an Arrow client (POST, long-poll with fields=success,
GET /rows as Arrow, until it holds a pandas DataFrame); the worker's encode seconds (JSON, and the rows
table with the feature values); Redis bytes per explained row per stored analysis (the sum of MEMORY USAGE
of every key the analysis wrote, after one Arrow read, over the rows), by key; web and worker RSS. Baselines
in the same run, in this process, one thread: CatBoost's native ShapValues of the service's model on the same
rows, and training alone (explain.training.train on the same frame).

    .venv/bin/python bench/rows_answer.py [--sizes 1650,10000,33000,100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import http.client
import time
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow.ipc as ipc
from benchlib import emit, forget_models, job_meta, machine, median, rounded, rss_mb, running_service, scratch

from common import keys
from devtools import wide_table

ARROW = "application/vnd.apache.arrow.stream"


def resampled(rows: int) -> pd.DataFrame:
    """The wide table itself for 1,650 rows or fewer, else its rows drawn with replacement, numbers jittered by
    1 % noise, ids made unique."""
    frame = wide_table.generate()
    if rows <= len(frame):
        return frame.iloc[:rows].reset_index(drop=True)
    rng = np.random.default_rng(rows)
    out = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
    for name in out.columns:
        if name != wide_table.ID_COLUMN and pd.api.types.is_float_dtype(out[name]):
            out[name] = out[name] * (1 + rng.normal(0, 0.01, rows))
    out[wide_table.ID_COLUMN] = [f"{i:06d}" for i in range(rows)]
    return out


def _get(connection: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None) -> bytes:
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
    return body


def client_run(port: int, body: dict[str, Any], arrow: bool) -> tuple[float, str]:
    """Seconds from POST until the client holds the parsed answer (dict for JSON, DataFrame for Arrow)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        started = time.perf_counter()
        connection.request("POST", "/analyze", body=orjson.dumps(body), headers={"Content-Type": "application/json"})
        job_id = orjson.loads(connection.getresponse().read())["job_id"]
        poll = f"/job_status/{job_id}?wait=30" + ("&fields=success" if arrow else "")
        while True:
            answer = orjson.loads(_get(connection, poll))
            if answer["status"] in ("finished", "failed", "stopped", "canceled"):
                break
        if answer["status"] != "finished":
            raise RuntimeError(f"job {job_id} ended {answer['status']}: {answer.get('error')}")
        if arrow:
            ipc.open_stream(_get(connection, f"/job_status/{job_id}/rows", {"Accept": ARROW})).read_all().to_pandas()
        return time.perf_counter() - started, job_id
    finally:
        connection.close()


def redis_bytes(client: Any, job_id: str) -> dict[str, int]:
    """MEMORY USAGE of every key the analysis wrote, by key kind (after one Arrow read)."""
    found = {"job_hash": f"rq:job:{job_id}", "json_result": keys.job_result(job_id),
             "rows_table": keys.job_rows_table(job_id), "feature_values": keys.job_feature_values(job_id),
             "plot_rows": keys.job_plot_rows(job_id), "gzip_answer": keys.job_answer_gzip(job_id)}
    return {kind: int(client.memory_usage(key, samples=0) or 0) for kind, key in found.items()}


def baselines(client: Any, model_id: str, frame: pd.DataFrame, target: str) -> dict[str, float]:
    from catboost import Pool

    from analysis.features import feature_frame
    from analysis.model_meta import ModelMeta
    from explain.training import from_bytes, train

    meta = ModelMeta.model_validate_json(client.get(keys.model_meta(model_id)))
    model = from_bytes(client.get(keys.model_blob(model_id)), meta)
    pool = Pool(feature_frame(frame, meta.features, meta.cat_features), cat_features=meta.cat_features)
    started = time.perf_counter()
    model.get_feature_importance(type="ShapValues", data=pool, thread_count=1)
    native = time.perf_counter() - started
    started = time.perf_counter()
    train(frame, target, list(meta.features), thread_count=1)
    return {"native_shap_values_s": native, "training_alone_s": time.perf_counter() - started}


def size_case(service: Any, rows: int, runs: int) -> dict[str, Any]:
    target = wide_table.TARGETS[0]
    frame = resampled(rows)
    name = f"wide{rows}"
    wide_table.upload(service, name, trained=False, data=frame.to_csv(index=False).encode())
    body = {"dataset": name, "target_variable": target, "sample_size": rows, "reuse": False}
    client = service.redis_client()
    forget_models(client)
    cold, _ = client_run(service.port, body, arrow=True)
    figures: dict[str, Any] = {"rows": rows, "cold_arrow_client_s": rounded(cold)}
    for label, arrow in (("json", False), ("arrow", True)):
        seconds = [client_run(service.port, body, arrow) for _ in range(runs)]
        figures[f"warm_{label}_client_s"] = rounded(median([s for s, _ in seconds]))
        job_id = seconds[-1][1]
    meta = job_meta(service, job_id)
    timings = meta.get("timings", {})
    figures["encode_json_and_tables_s"] = rounded(float(timings.get("encode_s", 0)))
    figures["rows_table_and_feature_values_s"] = rounded(float(timings.get("feature_values_s", 0)))
    used = redis_bytes(client, job_id)
    figures["redis_bytes_by_key"] = used
    figures["redis_bytes_per_explained_row"] = round(sum(used.values()) / rows)
    figures["redis_bytes_per_explained_row_without_json"] = round(
        (sum(used.values()) - used["json_result"] - used["feature_values"]) / rows)
    figures["dataset_bytes_per_row"] = round(int(client.memory_usage(keys.dataset_data(name), samples=0)) / rows)
    figures["web_rss_mb"] = rounded(max(rss_mb(pid) for pid in service.pids("waitress-serve")), 1)
    figures["worker_rss_mb"] = rounded(max(rss_mb(pid) for pid in service.pids("-m worker")), 1)
    model_id = orjson.loads(_answer_model(service, job_id))["id"]
    base = baselines(client, model_id, frame, target)
    figures |= {k: rounded(v) for k, v in base.items()}
    figures["ratio_warm_arrow_to_native"] = rounded(figures["warm_arrow_client_s"] / base["native_shap_values_s"], 3)
    figures["ratio_warm_json_to_native"] = rounded(figures["warm_json_client_s"] / base["native_shap_values_s"], 3)
    figures["ratio_cold_to_training_alone"] = rounded(cold / base["training_alone_s"], 3)
    return figures


def _answer_model(service: Any, job_id: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
    try:
        return orjson.dumps(orjson.loads(_get(connection, f"/job_status/{job_id}?fields=model"))["result"]["model"])
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1650,10000,33000,100000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with scratch("rows") as directory, running_service(directory, {"MAX_UPLOAD_MB": "100"}, workers=2) as service:
        cases = [size_case(service, rows, args.runs) for rows in sizes]
    emit("rows_answer", {"machine": machine(), "sizes": cases})


if __name__ == "__main__":
    main()
