"""Cold start (issue 5 item 5): supervisord start -> /ping 200 (target <= 2 s), -> every analysis worker
ready, -> first analysis finished, with training (target <= 5 s after start on `default`).

The analysis is submitted as soon as /ping answers (as a client waiting for the service would), so it
waits for a worker, the `default` dataset and the training. Median of a few fresh starts, each in a new
DATA_DIR with its own embedded Redis (nothing cached).

    .venv/bin/python bench/cold_start.py [--starts 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

from benchlib import DEFAULT_ANALYSIS, REPO, Service, emit, machine, median, rounded, scratch


def one_start(directory: Any) -> dict[str, float]:
    service = Service(directory)
    directory.mkdir(parents=True, exist_ok=True)
    log = open(directory / "service.out", "ab")  # noqa: SIM115
    started = time.monotonic()
    service.process = subprocess.Popen([sys.executable, str(REPO / "scripts" / "entrypoint.py")],
                                       env=service.environ(), stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                       start_new_session=True)
    try:
        while service.get("/ping", timeout=2)[0] != 200:
            if not service.alive() or time.monotonic() - started > 60:
                raise RuntimeError(f"service did not answer /ping:\n{service.output()[-3000:]}")
            time.sleep(0.01)
        ping = time.monotonic() - started
        job_id = service.analyze(DEFAULT_ANALYSIS)
        workers_ready = 0.0
        while not workers_ready:
            status, body, _ = service.get("/worker-status")
            if status == 200 and body.get("active_workers", 0) >= 2:
                workers_ready = time.monotonic() - started
            elif time.monotonic() - started > 120:
                raise RuntimeError("workers did not become ready")
            else:
                time.sleep(0.02)
        answer = service.wait_job(job_id, timeout=300)
        first = time.monotonic() - started
        assert answer["status"] == "finished", answer
        assert answer["result"]["model"]["trained_in_this_job"]
        return {"ping_s": ping, "workers_ready_s": workers_ready, "first_analysis_s": first,
                "training_s": answer["result"]["timings"].get("model_s", 0.0)}
    finally:
        if service.alive():
            service.stop(timeout=60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    runs = []
    with scratch("cold") as directory:
        for index in range(args.starts):
            runs.append(one_start(directory / f"start-{index}"))
    figures = {name: rounded(median([run[name] for run in runs]), 3) for name in runs[0]}
    emit("cold_start", {
        **{f"{name}_median": value for name, value in figures.items()},
        "target_ping_s": 2.0, "target_first_analysis_s": 5.0,
        "starts": [{k: rounded(v, 3) for k, v in run.items()} for run in runs],
        "workers": 2,
        "machine": machine(),
    })


if __name__ == "__main__":
    main()
