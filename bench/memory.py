"""Memory (issue 5 item 6): RSS of the web process and of an idle worker parent, and the work-horse peak
explaining 100,000 rows x 30 columns with AGGRESSIVE_MEMORY_MANAGEMENT off and on.

One private redis-server is shared by two service runs (off, then on), so the model is trained once.
The work horse reports its own peak RSS (VmHWM, which the kernel resets at fork) in its job's meta;
the benchmark also samples the horse's RSS from outside every 20 ms as a cross-check.

    .venv/bin/python bench/memory.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import io
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
from benchlib import (
    DEFAULT_ANALYSIS,
    RedisServer,
    children,
    emit,
    job_meta,
    machine,
    rounded,
    rss_mb,
    running_service,
    scratch,
    wait_finished,
)

from devtools.processes import cmdline

COLUMNS = 30


def tall_csv(rows: int, seed: int = 11) -> bytes:
    """`rows` x 30: an id column, a categorical column, 27 numeric features and a target `y`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, COLUMNS - 3)).round(3)
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(COLUMNS - 3)])
    frame.insert(0, "row_id", np.char.add("R", np.arange(rows).astype(str)))
    frame.insert(1, "segment", rng.choice(["a", "b", "c"], size=rows))
    frame["y"] = (2 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + rng.normal(0, 0.3, rows)).round(3)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def sample_horse(worker_pids: list[int], stop: threading.Event, peak: list[float]) -> None:
    while not stop.is_set():
        for pid in worker_pids:
            for child in children(pid):
                peak[0] = max(peak[0], rss_mb(child, "VmHWM"), rss_mb(child))
        time.sleep(0.02)


def run(directory: Any, redis_url: str, aggressive: bool, csv: bytes | None, rows: int) -> dict[str, Any]:
    env = {"REDIS_URL": redis_url, "WORKER_COUNT": "1", "THREADS_PER_JOB": "2", "MAX_ROWS": str(max(rows, 100000)),
           "AGGRESSIVE_MEMORY_MANAGEMENT": "true" if aggressive else "false", "JOB_TIMEOUT": "1800",
           "MAX_UPLOAD_MB": "200"}
    with running_service(directory, env, workers=1) as service:
        # ordinary work first (an analysis, its result, polls), so the web's figure is that of a working process
        for _ in range(3):
            wait_finished(service, service.analyze(DEFAULT_ANALYSIS))
        for _ in range(20):
            service.get("/ping")
            service.get("/health")
        web_pid = service.pids("waitress-serve")[0]
        web_rss = rss_mb(web_pid)
        if csv is not None:
            status, answer, _ = service.put("/datasets/tall?default_target=y", raw=csv,
                                            headers={"Content-Type": "text/csv"}, timeout=300)
            assert status in (200, 201), answer
        workers = [pid for pid in service.pids("-m worker") if "maintenance" not in cmdline(pid)]
        idle_parent = max(rss_mb(pid) for pid in workers)
        stop, peak = threading.Event(), [0.0]
        sampler = threading.Thread(target=sample_horse, args=(workers, stop, peak), daemon=True)
        sampler.start()
        started = time.perf_counter()
        job_id = service.analyze({"dataset": "tall", "target_variable": "y", "reuse": False})
        answer = service.wait_job(job_id, timeout=1800)
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        assert answer["status"] == "finished", answer.get("error")
        meta = job_meta(service, job_id)
        peak_rss = meta.get("peak_rss_mb") or peak[0]  # the horse's own figure; sampled when it has none
        return {"web_rss_mb": rounded(web_rss, 1), "web_peak_rss_mb": rounded(rss_mb(web_pid, "VmHWM"), 1),
                "worker_parent_idle_rss_mb": rounded(idle_parent, 1),
                "horse_peak_rss_mb": peak_rss, "horse_peak_rss_sampled_mb": rounded(peak[0], 1),
                "explained_rows": answer["result"]["explained_rows"], "seconds": rounded(seconds, 2),
                "result_mb": rounded(len(str(answer["result"])) / 2**20, 1),
                "timings": {k: rounded(v, 3) if isinstance(v, int | float) else v  # shap_engine is a name
                            for k, v in meta.get("timings", {}).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100000)
    args = parser.parse_args()

    with scratch("memory") as directory:
        server = RedisServer(directory / "redis", appendonly=False).start()
        try:
            off = run(directory / "off", server.url, False, tall_csv(args.rows), args.rows)
            on = run(directory / "on", server.url, True, None, args.rows)
        finally:
            server.stop()

    emit("memory", {
        "rows": args.rows, "columns": COLUMNS,
        "web_rss_mb": max(off["web_rss_mb"], on["web_rss_mb"]),
        "web_peak_rss_mb": max(off["web_peak_rss_mb"], on["web_peak_rss_mb"]),
        "target_web_rss_mb": 150,
        "worker_parent_idle_rss_mb": off["worker_parent_idle_rss_mb"],
        "horse_peak_off_mb": off["horse_peak_rss_mb"], "horse_peak_on_mb": on["horse_peak_rss_mb"],
        "ratio_on_to_off": rounded(on["horse_peak_rss_mb"] / off["horse_peak_rss_mb"], 3),
        "target": "on < off",
        "off": off, "on": on,
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
