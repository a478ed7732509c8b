"""Issue 19's delivery benchmark (items 5 and 8): the columnar answer against the JSON one, through the whole
service (`make run`: 2 workers x 1 thread, embedded Redis, as the container starts them), on the wide
census-like table resampled with noise to each size (1,650 rows is the table itself), every row explained.

Per size, in one run:
  - cold (the job trains) and warm end to end for a JSON client (POST, long-poll until the whole JSON
    result has arrived, orjson.loads) and for an Arrow client (the Python client in clients/python:
    `analyze(...).rows()`, until it holds the pandas DataFrame; no JSON matrix is fetched);
  - the worker's job timings (encode seconds among them);
  - Redis bytes per explained row per stored analysis: the sum of MEMORY USAGE of every key that names the
    analysis's job id (what it wrote: RQ's job hash, the result and its tables, the answer caches), after
    one Arrow read and one JSON read, over the rows;
  - web RSS (now and its peak) and worker-parent RSS, the work horse's peak (its own VmHWM);
  - baselines in this process, one thread, on the same rows: CatBoost's native ShapValues of the service's
    own model (same trees, depth, borders), and training alone (explain.training.train on the same frame);
  - item 5, kept values: the SHAP stage computed from the leaf tables as a horse does without kept values,
    the same values taken from every row's values kept by a worker parent, the parent's one-off computation
    of them, and their size against the budget (KEPT_SHAP_MB); the warm jobs' own SHAP stages.
Then, in a fresh service, the whole container's memory (every process of the supervisord tree, Redis
included; PSS and RSS summed) after the workload on the wide table: start, first analysis, 10 warm, 20 at
once, 16 clients reading a finished result 200 times each (as JSON, then as Arrow).

Figures are printed against issue 19's targets (`TARGETS` below) with ratios to the same run's baselines.

    .venv/bin/python bench/rows_answer.py [--sizes 1650,10000,33000,100000] [--runs 3] [--no-container]
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from benchlib import (
    children,
    emit,
    forget_models,
    job_meta,
    load,
    machine,
    median,
    pss_mb,
    reset_peak_rss,
    rounded,
    rss_mb,
    running_service,
    scratch,
    wait_finished,
)
from shap_client import Client

from common import keys
from devtools import wide_table
from devtools.processes import cmdline, session_pids

ARROW = "application/vnd.apache.arrow.stream"
WIDE_ROWS = 1650
LARGE_ROWS = 100_000
# what a 100,000 x 134 CSV (about 85 MiB) needs, as docs/configuration.md says for MAX_UPLOAD_MB
SERVICE_ENV = {"MAX_UPLOAD_MB": "100"}
# the 1,024 MiB embedded Redis of a host without a memory limit refuses new work from 90 %: a 100,000-row dataset
# and two results of it (the measured one, the one being made) need more while results are stored as JSON
SIZES_ENV = {**SERVICE_ENV, "REDIS_MAXMEMORY_MB": "4096"}
TODAY_JSON_WIDE_WARM_S = 0.23  # issue 19: "no slower than today" (0.15-0.23 s)
CONTAINER_TARGET_MB = 785  # the service this one replaces, after the same workload


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
            # rounded as the table's own values are, so the CSV stays the table's (about 85 MB at 100,000 rows),
            # not 17 significant digits per cell (246 MB)
            out[name] = (out[name] * (1 + rng.normal(0, 0.01, rows))).round(_decimals(frame[name]))
    out[wide_table.ID_COLUMN] = [f"{i:06d}" for i in range(rows)]
    return out


def _decimals(column: pd.Series) -> int:
    """The most digits after the point among a column's values as the CSV writes them (at most 6)."""
    written = column.dropna().astype(str)
    return min(6, int(written.str.partition(".")[2].str.len().max() or 0))


def _get(connection: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None) -> bytes:
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
    return body


# ---------------------------------------------------------------- the two clients


def json_client(port: int, body: dict[str, Any]) -> tuple[float, str]:
    """Seconds from POST until the client holds the whole JSON result parsed (a JSON client of today)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        started = time.perf_counter()
        connection.request("POST", "/analyze", body=orjson.dumps(body), headers={"Content-Type": "application/json"})
        job_id = orjson.loads(connection.getresponse().read())["job_id"]
        while True:
            answer = orjson.loads(_get(connection, f"/job_status/{job_id}?wait=30"))
            if answer["status"] in ("finished", "failed", "stopped", "canceled"):
                break
        if answer["status"] != "finished":
            raise RuntimeError(f"job {job_id} ended {answer['status']}: {answer.get('error')}")
        return time.perf_counter() - started, job_id
    finally:
        connection.close()


def arrow_client(port: int, body: dict[str, Any]) -> tuple[float, str]:
    """Seconds from POST until the Python client holds the rows as a DataFrame (`Job.rows()`: it long-polls
    with fields=success, then reads GET /job_status/<id>/rows as Arrow)."""
    with Client(f"http://127.0.0.1:{port}", timeout=600) as client:
        started = time.perf_counter()
        job = client.analyze(body["target_variable"], dataset=body["dataset"], sample_size=body["sample_size"],
                             reuse=False)
        frame = job.rows()
        seconds = time.perf_counter() - started
    if len(frame) != body["sample_size"]:
        raise RuntimeError(f"job {job.id}: {len(frame)} rows, expected {body['sample_size']}")
    return seconds, job.id


CLIENTS = {"arrow": arrow_client, "json": json_client}


# ---------------------------------------------------------------- what the service holds


def redis_bytes(client: Any, job_id: str) -> dict[str, int]:
    """MEMORY USAGE of every key naming the job id (RQ's job hash, the result, its tables, answer caches),
    by key with the id written <id>: whatever the storage writes, nothing it writes for the analysis is missed."""
    found: dict[str, int] = {}
    for key in client.scan_iter(match=f"*{job_id}*", count=1000):
        found[key.decode().replace(job_id, "<id>")] = int(client.memory_usage(key, samples=0) or 0)
    return dict(sorted(found.items()))


def drop_results(client: Any, job_ids: list[str]) -> None:
    """Delete what these finished analyses stored (every key naming them but RQ's own, which the job's meta
    is read from), so that at 100,000 rows Redis holds one measured result and the one being made, not eight."""
    for job_id in job_ids:
        names = [k for k in client.scan_iter(match=f"*{job_id}*", count=1000) if not k.startswith(b"rq:")]
        if names:
            client.delete(*names)


def worker_parents(service: Any) -> list[int]:
    """The analysis workers (`python -m worker`, not worker.maintenance or worker.scheduler), horses excluded."""
    found = [pid for pid in service.pids("-m worker") if cmdline(pid).split()[-2:] == ["-m", "worker"]]
    horses = {child for pid in found for child in children(pid)}
    return [pid for pid in found if pid not in horses]


def service_memory(service: Any) -> dict[str, float]:
    web = service.pids("waitress-serve")[0]
    return {"web_rss_mb": rounded(rss_mb(web), 1), "web_peak_rss_mb": rounded(rss_mb(web, "VmHWM"), 1),
            "worker_parent_rss_mb": rounded(max(rss_mb(pid) for pid in worker_parents(service)), 1)}


PROGRAMS = (("redis", "redis-server"), ("web", "waitress-serve"), ("maintenance", "worker.maintenance"),
            ("scheduler", "worker.scheduler"), ("workers and horses", "-m worker"), ("supervisord", "supervisord"))


def container_memory(service: Any) -> dict[str, Any]:
    """Every live process of the service's session (supervisord, web, workers and their horses, maintenance
    worker, scheduler, redis-server): PSS summed (shared pages once) and RSS summed (shared pages per process),
    and PSS by program."""
    assert service.process is not None
    pids = session_pids(service.process.pid)
    by_program: dict[str, float] = {}
    for pid in pids:
        name = next((label for label, pattern in PROGRAMS if pattern in cmdline(pid)), "other")
        by_program[name] = rounded(by_program.get(name, 0.0) + pss_mb(pid), 1)
    return {"pss_mb": rounded(sum(pss_mb(pid) for pid in pids), 1),
            "rss_mb": rounded(sum(rss_mb(pid) for pid in pids), 1), "processes": len(pids),
            "pss_by_program_mb": by_program, "redis_used_memory_mb": rounded(
                int(service.redis_client().info("memory")["used_memory"]) / 2**20, 1)}


# ---------------------------------------------------------------- baselines, in this process, one thread


def baselines(client: Any, model_id: str, frame: pd.DataFrame, target: str) -> dict[str, float]:
    """Native ShapValues of the service's own model on the same rows, and training alone on the same frame."""
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
    return {"native_shap_values_s": native, "training_alone_s": time.perf_counter() - started,
            "trees": float(model.tree_count_)}


def kept_values(client: Any, model_id: str, frame: pd.DataFrame) -> dict[str, float]:
    """Item 5: what keeping every row's values saves a warm horse (computing them from the leaf tables, as a
    horse without them does, against taking its rows from them) and what it costs (the parent's one-off
    computation, the bytes it holds)."""
    from analysis.features import feature_frame
    from common.settings import Settings
    from explain import engine
    from worker.model_store import complete_model

    trained = complete_model(client, model_id)
    assert trained is not None and trained.tables is not None, "the model has no leaf tables"
    meta = trained.meta
    x = feature_frame(frame, meta.features, meta.cat_features)
    started = time.perf_counter()
    engine.shap_matrix(trained.model, trained.tables, x, meta.cat_features, 1, Settings.from_env({}).shap_batch_size)
    computed = time.perf_counter() - started
    started = time.perf_counter()
    kept = engine.dataset_shap(trained.model, trained.tables, frame, "bench", x, meta.cat_features, 10_000)
    parent = time.perf_counter() - started
    taken = []
    for rows in (x, x.sample(frac=1.0, random_state=0)):  # every row in order (a view), then shuffled (a copy)
        started = time.perf_counter()
        kept.rows(rows)
        taken.append(time.perf_counter() - started)
    return {"computed_s": computed, "taken_s": taken[0], "taken_shuffled_s": taken[1], "parent_computes_s": parent,
            "values_mb": kept.shap.nbytes / 2**20, "budget_mb": float(Settings.from_env({}).kept_shap_mb)}


# ---------------------------------------------------------------- one size


def timed_runs(service: Any, body: dict[str, Any], runs: int) -> dict[str, Any]:
    """Per client (Arrow first: a process seldom gives memory back, so the JSON answers' growth of the web
    would count in the Arrow figure otherwise), cold (models forgotten first) then `runs` warm runs, and the
    web's peak RSS meanwhile (and its RSS before); the warm jobs' ids."""
    client = service.redis_client()
    web = service.pids("waitress-serve")[0]
    out: dict[str, Any] = {}
    warm_jobs: list[str] = []
    for label, run in CLIENTS.items():
        out[f"web_rss_before_{label}_mb"] = rounded(rss_mb(web), 1)
        reset_peak_rss(web)
        forget_models(client)
        out[f"cold_{label}_client_s"], cold_job = run(service.port, body)
        drop_results(client, [cold_job])
        seconds = []
        for _ in range(runs):
            seconds.append(run(service.port, body))
            # each result dropped once read, but the Arrow client's latest: its stored bytes are measured afterwards
            if label == "json":
                drop_results(client, [seconds[-1][1]])
            elif len(seconds) > 1:
                drop_results(client, [seconds[-2][1]])
        out[f"web_peak_serving_{label}_mb"] = rounded(rss_mb(web, "VmHWM"), 1)
        out[f"warm_{label}_client_s"] = median([s for s, _ in seconds])
        out[f"warm_{label}_client_runs_s"] = [rounded(s) for s, _ in seconds]
        warm_jobs += [job_id for _, job_id in seconds]
        out[f"{label}_job"] = seconds[-1][1]
    out["warm_jobs"] = warm_jobs
    return out


def stored_bytes(service: Any, job_id: str, rows: int) -> dict[str, Any]:
    """What one stored analysis holds in Redis after one Arrow read (issue 19's figure), then after a JSON
    read and a gzip JSON read too (what a JSON answer kept for JSON clients adds), and the answers' sizes."""
    client = service.redis_client()
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=600)
    try:
        sizes = {"arrow": len(_get(connection, f"/job_status/{job_id}/rows", {"Accept": ARROW}))}
        after_arrow = redis_bytes(client, job_id)
        sizes["json"] = len(_get(connection, f"/job_status/{job_id}"))
        sizes["json_gzip"] = len(_get(connection, f"/job_status/{job_id}", {"Accept-Encoding": "gzip"}))
        after_json = redis_bytes(client, job_id)
    finally:
        connection.close()
    return {"answer_bytes": sizes, "redis_bytes_by_key": after_arrow,
            "redis_bytes_per_explained_row": round(sum(after_arrow.values()) / rows),
            "redis_bytes_by_key_after_json_reads": after_json,
            "redis_bytes_per_explained_row_after_json_reads": round(sum(after_json.values()) / rows)}


def size_case(service: Any, rows: int, runs: int) -> dict[str, Any]:
    target = wide_table.TARGETS[0]
    frame = resampled(rows)
    name = f"wide{rows}"
    csv = frame.to_csv(index=False).encode()
    started = time.perf_counter()
    wide_table.upload(service, name, trained=False, data=csv, timeout=600)
    upload = {"upload_s": rounded(time.perf_counter() - started), "upload_csv_mb": rounded(len(csv) / 2**20, 1)}
    body = {"dataset": name, "target_variable": target, "sample_size": rows, "reuse": False}
    timed = timed_runs(service, body, runs)
    figures: dict[str, Any] = {"rows": rows, **upload,
                               **{k: rounded(v) for k, v in timed.items() if k.endswith("client_s")},
                               **{k: v for k, v in timed.items() if k.endswith(("_runs_s", "_mb"))}}
    metas = {job: job_meta(service, job) for job in timed["warm_jobs"]}
    timings = metas[timed["arrow_job"]].get("timings", {})
    figures["arrow_job_timings_s"] = {k: rounded(v) for k, v in timings.items() if isinstance(v, int | float)}
    figures["json_job_timings_s"] = {k: rounded(v) for k, v in metas[timed["json_job"]].get("timings", {}).items()
                                     if isinstance(v, int | float)}
    figures["warm_jobs_shap_s"] = [rounded(float(m.get("timings", {}).get("shap_s", 0))) for m in metas.values()]
    figures["horse_peak_rss_mb"] = max(float(m.get("peak_rss_mb") or 0) for m in metas.values())
    figures |= stored_bytes(service, timed["arrow_job"], rows)
    figures |= service_memory(service)
    client = service.redis_client()
    # the dataset is stored once whatever the number of analyses (their feature values may be read from it)
    figures["dataset_bytes_per_row"] = round(int(client.memory_usage(keys.dataset_data(name), samples=0)) / rows)
    model_id = str(metas[timed["arrow_job"]].get("model_id"))
    base = baselines(client, model_id, frame, target)
    figures |= {k: rounded(v) for k, v in base.items()}
    figures["kept_values"] = {k: rounded(v, 4) for k, v in kept_values(client, model_id, frame).items()}
    status, answer, _ = service.request("DELETE", f"/datasets/{name}")  # its results and models too: room for the next
    assert status == 200, answer
    return figures | ratios(figures)


def ratios(f: dict[str, Any]) -> dict[str, float]:
    native, training = f["native_shap_values_s"], f["training_alone_s"]
    return {"ratio_warm_arrow_to_native": rounded(f["warm_arrow_client_s"] / native, 3),
            "ratio_warm_json_to_native": rounded(f["warm_json_client_s"] / native, 3),
            "ratio_cold_arrow_to_training_alone": rounded(f["cold_arrow_client_s"] / training, 3),
            "ratio_cold_json_to_training_alone": rounded(f["cold_json_client_s"] / training, 3)}


# ---------------------------------------------------------------- the whole container after a workload


def concurrent(service: Any, body: dict[str, Any], count: int) -> None:
    jobs = [service.analyze(body) for _ in range(count)]
    for job_id in jobs:
        wait_finished(service, job_id, timeout=600)


def container_case(directory: Path) -> dict[str, Any]:
    """A fresh service; the whole container's memory after each step of the workload on the wide table."""
    body = {"dataset": "wide", "target_variable": wide_table.TARGETS[0], "sample_size": WIDE_ROWS, "reuse": False}
    steps: dict[str, Any] = {}
    with running_service(directory, SERVICE_ENV, workers=2) as service:
        steps["start"] = container_memory(service)
        wide_table.upload(service, trained=False)
        last = service.analyze(body)
        wait_finished(service, last)
        steps["first_analysis"] = container_memory(service)
        for _ in range(10):
            wait_finished(service, last := service.analyze(body))
        steps["ten_warm"] = container_memory(service)
        concurrent(service, body, 20)
        steps["twenty_at_once"] = container_memory(service)
        reads = {"json": load(service.port, f"/job_status/{last}", clients=16, duration=600, requests=200)}
        steps["after_json_reads"] = container_memory(service)
        reads["arrow"] = load(service.port, f"/job_status/{last}/rows", clients=16, duration=600, requests=200,
                              headers={"Accept": ARROW})
        steps["after_arrow_reads"] = container_memory(service)
        memory = service_memory(service)
    after = steps["after_arrow_reads"]
    return {"steps": steps, "reads": reads, **memory, "pss_mb": after["pss_mb"], "rss_mb": after["rss_mb"],
            "target_mb": CONTAINER_TARGET_MB}


# ---------------------------------------------------------------- targets


def targets(cases: dict[int, dict[str, Any]], container: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 19's table: each figure measured, its target in this run's terms, met or not (None: not run)."""
    wide, large = cases.get(WIDE_ROWS), cases.get(LARGE_ROWS)

    def check(figure: str, value: float | None, limit: float | None, target: str) -> dict[str, Any]:
        met = None if value is None or limit is None else bool(value <= limit)
        return {"figure": figure, "value": None if value is None else rounded(value, 3), "target": target,
                "limit": None if limit is None else rounded(limit, 3), "met": met}

    def of(case: dict[str, Any] | None, key: str, scale: float = 1.0) -> float | None:
        return None if case is None else case[key] * scale

    bytes_per_row = max((c["redis_bytes_per_explained_row"] for c in cases.values()), default=None)
    return [
        check("wide (1,650 rows), warm, Arrow client to DataFrame (s)", of(wide, "warm_arrow_client_s"),
              of(wide, "native_shap_values_s", 0.30), "≤ 0.30 x native ShapValues, same run"),
        check("100,000 rows, warm, Arrow client (s)", of(large, "warm_arrow_client_s"),
              of(large, "native_shap_values_s", 0.35), "≤ 0.35 x native ShapValues, same run"),
        check("100,000 rows, cold, end to end, Arrow client (s)", of(large, "cold_arrow_client_s"),
              of(large, "training_alone_s", 1.3), "≤ 1.3 x training alone, same run"),
        check("encode of a 100,000-row result (s)",
              None if large is None else large["arrow_job_timings_s"].get("encode_s"), 0.3, "≤ 0.3 s"),
        check("Redis bytes per explained row per stored analysis (the most of any size)", bytes_per_row, 1200,
              "≤ 1,200"),
        check("web peak RSS serving 100,000-row results to Arrow clients (MB)", of(large, "web_peak_serving_arrow_mb"),
              400, "≤ 400 MB"),
        check("web peak RSS serving 100,000-row results to JSON clients (MB)", of(large, "web_peak_serving_json_mb"),
              400, "≤ 400 MB"),
        check("whole container after the workload, PSS summed (MB)",
              None if container is None else container["pss_mb"], CONTAINER_TARGET_MB, "≤ 785 MB"),
        check("JSON client, wide warm end to end (s)", of(wide, "warm_json_client_s"), TODAY_JSON_WIDE_WARM_S,
              "no slower than today (0.15-0.23 s)"),
    ]


def report(checks: list[dict[str, Any]]) -> None:
    """The targets as readable lines on stderr (the JSON line on stdout is the record)."""
    for c in checks:
        verdict = {None: "not measured", True: "met", False: "NOT MET"}[c["met"]]
        print(f"{c['figure']}: {c['value']} (target {c['target']}: {c['limit']}) {verdict}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1650,10000,33000,100000", help="rows, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="warm runs of each client per size")
    parser.add_argument("--container", action=argparse.BooleanOptionalAction, default=True,
                        help="the whole-container memory after the wide workload (a fresh service)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started = machine()
    with scratch("rows") as directory:
        with running_service(directory / "sizes", SIZES_ENV, workers=2) as service:
            cases = {rows: size_case(service, rows, args.runs) for rows in sizes}
        container = container_case(directory / "container") if args.container else None
    checks = targets(cases, container)
    report(checks)
    emit("rows_answer", {"machine": machine(), "load_avg_at_start": started["load_avg"], "runs": args.runs,
                         "sizes": list(cases.values()), "container": container, "targets": checks})


if __name__ == "__main__":
    main()
