"""The worker's side of a warm analysis at 100,000 rows (issue 19), in this process: the analysis (kept values, as a
warm horse takes them), its stored form and its writing to a private redis-server configured as the service's
(unix socket, appendonly yes, appendfsync everysec), done two ways, taking turns run by run:

  - sequential (the build before decision 00XX): the result, then the rows table and the head, then one SET
    transaction of both;
  - beside the result (worker.result_writer): the rows table handed to a thread as soon as the result's per-row
    parts exist, the head written with the table's rename.

Per run: the result's `result_s`, the encode and store seconds, what the job waited for the thread
(`store_wait_s`), the wall time of the whole, and the CPU seconds of this process and of Redis together (the
work, which the order does not change). The machine's load changes what overlapping can give: on 2 cores
with another busy process there is no core left for the thread and Redis.

    .venv/bin/python bench/worker_store.py [--rows 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path
from typing import Any

import redis
from benchlib import emit, machine, median, rounded, scratch
from rows_answer import resampled

from devtools import wide_table
from devtools.waiting import wait_until


def redis_server(directory: Path) -> tuple[subprocess.Popen, redis.Redis]:
    """A redis-server as supervisord.conf starts the service's."""
    socket = directory / "redis.sock"
    process = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(socket), "--dir", str(directory),
                                "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=str(socket))
    wait_until(socket.exists, 10, message="redis-server's socket")  # it listens once the socket exists
    client.ping()
    return process, client


def warm_inputs(rows: int) -> dict[str, Any]:
    """The resampled table, a model of it (trained on 2,000 rows: the model's size does not change the stored
    form's), its leaf tables and every row's kept values, as a warm worker parent holds them."""
    from analysis import datasets
    from analysis.features import feature_frame
    from analysis.request import AnalyzeRequest
    from explain import engine
    from explain.training import TrainedModel, train
    from explain.treeshap import build_tables

    target = wide_table.TARGETS[0]
    meta, frame = datasets.describe(resampled(rows).to_csv(index=False).encode(), wide_table.options(target),
                                    name="big", max_rows=rows)
    model, model_meta = train(frame.iloc[:2000], target, datasets.feature_columns(meta, target), thread_count=1)
    trained = TrainedModel("big", model, model_meta, tables=build_tables(model))
    assert trained.tables is not None
    x = feature_frame(frame, model_meta.features, model_meta.cat_features)
    trained.dataset_shap = engine.dataset_shap(model, trained.tables, frame, meta.version, x,
                                               model_meta.cat_features, 10_000)
    return {"frame": frame, "meta": meta, "target": target, "trained": trained,
            "request": AnalyzeRequest.model_validate({"sample_size": rows}), "rows": rows}


def _analyze(inputs: dict[str, Any], **passes: Any) -> Any:
    from explain.run import analyze

    return analyze(inputs["frame"], inputs["meta"], inputs["request"], inputs["target"], inputs["trained"],
                   thread_count=1, batch_size=20_000, max_rows=inputs["rows"], **passes)


def sequential(inputs: dict[str, Any], client: redis.Redis, job_id: str) -> dict[str, float]:
    from store import result_store
    from worker.jobs import stored_form

    result = _analyze(inputs)
    started = time.perf_counter()
    head, table = stored_form(result, result.shap_values.frame.index.to_numpy())
    encoded = time.perf_counter()
    result_store.save(client, job_id, head, table, 3600)
    # store_wait_s: the whole of the encoding and the storing comes after the result here
    return {"result_s": result.timings["result_s"], "encode_s": encoded - started,
            "store_s": time.perf_counter() - encoded, "store_wait_s": time.perf_counter() - started}


def beside(inputs: dict[str, Any], client: redis.Redis, job_id: str) -> dict[str, float]:
    from analysis import rows_table, stored_result
    from worker.result_writer import ResultWriter

    with ResultWriter(client, job_id, 3600, 600) as writer:
        result = _analyze(inputs, rows_ready=lambda columns, rows: writer.start(
            lambda: rows_table.of_rows(columns, rows, columns.frame.index.to_numpy())))
        writer.finish(lambda: stored_result.head_bytes(result, stored_result.layout_of(result, True)))
    return {"result_s": result.timings["result_s"], **writer.timings}


def timed(way: Any, inputs: dict[str, Any], client: redis.Redis, job_id: str) -> dict[str, float]:
    def cpu() -> float:
        info = client.info("cpu")
        return time.process_time() + float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    started, spent = time.perf_counter(), cpu()
    figures = way(inputs, client, job_id)
    figures |= {"wall_s": time.perf_counter() - started, "cpu_s_with_redis": cpu() - spent}
    client.delete(*client.keys(f"*{job_id}*"))
    time.sleep(1.5)  # the append-only file's fsync (every second) is not the next run's
    return {k: rounded(v, 3) for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    started = machine()
    inputs = warm_inputs(args.rows)
    runs: dict[str, list[dict[str, float]]] = {"sequential": [], "beside": []}
    with scratch("worker-store") as directory:
        process, client = redis_server(directory)
        try:
            _analyze(inputs)  # the first analysis in a process pays one-off costs
            for run in range(args.runs):
                runs["sequential"].append(timed(sequential, inputs, client, f"s{run}"))
                runs["beside"].append(timed(beside, inputs, client, f"b{run}"))
                print(run, runs["sequential"][-1], runs["beside"][-1], flush=True)
        finally:
            process.terminate()
            process.wait()
    medians = {way: {k: rounded(median([r[k] for r in found]), 3) for k in found[0]} for way, found in runs.items()}
    emit("worker_store", {"machine": machine(), "load_avg_at_start": started["load_avg"], "rows": args.rows,
                          "runs": runs, "medians": medians,
                          "ratio_wall_beside_to_sequential": rounded(medians["beside"]["wall_s"]
                                                                     / medians["sequential"]["wall_s"], 3)})


if __name__ == "__main__":
    main()
